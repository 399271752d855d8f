"""A stand-in for api.weibo.com: Weibo's OAuth2 and REST protocol for demos and tests, offline.

Start it with ``python -m weibo_sandbox`` or, from Python, ``start_in_thread(SandboxConfig(...))``.
"""

from .config import SandboxConfig
from .server import make_server, start_in_thread

__all__ = ["SandboxConfig", "make_server", "start_in_thread"]
__version__ = "1.0.0"
