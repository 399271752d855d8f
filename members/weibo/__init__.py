"""Our own allauth provider for Sina Weibo, registered under allauth's id ``weibo``.

allauth's bundled provider hard-codes ``api.weibo.com``, joins scopes with spaces and trusts
``users/show`` blindly. This one takes its endpoints from ``WEIBO_API_BASE`` (the real Weibo in
production, the sandbox in development and tests) and turns every Weibo error into a clear page.
"""
