"""Keyword moderation: normalising text and deciding what the words of a comment trigger.

Chinese has no spaces between words, so keywords match as substrings of *normalised* text:

- NFKC, character by character: full-width letters and digits become half-width (``ＱＱ`` →
  ``QQ``), compatibility forms unfold;
- case folding (``WeiXin`` → ``weixin``);
- traditional → simplified folding with a small built-in table of the characters spam and abuse
  are usually written with (``廣告`` → ``广告``);
- zero-width and other invisible format characters and all whitespace are dropped, so ``广 告``
  and ``广\u200b告`` match ``广告``.

Normalising keeps, for every normalised character, the index of the original character it came
from, so a match can be censored in the text as written: the matched stretch of the original,
spaces inside it included, becomes the same number of ``＊``.

When several keywords match, the strictest action decides (block > hold > censor > flag); every
censor match is masked whatever the deciding action, so a held comment approved later shows no
censored word either. This module only reads; counting hits is the services' job.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from community.models_interaction import ModerationKeyword

Action = ModerationKeyword.Action
CENSOR_CHAR = "＊"

# Higher is stricter; the strictest matched action decides what happens to a comment.
STRICTNESS = {Action.FLAG: 1, Action.CENSOR: 2, Action.HOLD: 3, Action.BLOCK: 4}

# Traditional → simplified, for characters whose simplified form is unambiguous. Pairs of
# (traditional, simplified), written as one string; the table is small on purpose.
_TRADITIONAL_SIMPLIFIED_PAIRS = (
    "廣广賭赌騙骗錢钱買买賣卖發发髮发貸贷會会員员號号優优紅红網网點点擊击領领獎奖幣币現现"
    "約约愛爱國国華华東东傳传銷销詐诈黃黄藥药槍枪彈弹殺杀製制價价這这個个們们來来說说話话"
    "時时實实際际開开關关門门問问題题無无處处幾几萬万與与專专業业體体醫医療疗證证書书車车"
    "馬马鳥鸟魚鱼龍龙電电腦脑視视聽听讀读寫写學学習习變变對对總总經经濟济場场義义樂乐氣气"
    "應应當当從从後后還还進进過过運运動动費费賺赚贏赢輸输頭头條条線线鏈链連连結结給给絡络"
    "請请謝谢認认識识譯译議议選选區区塊块鍵键錯错鐘钟長长陳陈陽阳陰阴隊队雙双難难靈灵風风"
    "飛飞養养館馆鬥斗麼么齊齐齒齿贈赠購购寶宝碼码註注冊册帳账賬账戶户額额兌兑換换單单聯联"
    "繫系係系掃扫維维轉转匯汇銀银貨货財财產产資资詢询諮咨屬属級级騷骚擾扰罵骂髒脏屍尸販贩"
    "嚇吓襲袭滅灭獄狱偽伪盜盗竊窃搶抢為为裡里裏里嗎吗邊边見见覺觉麗丽歡欢親亲戀恋夢梦顏颜"
    "質质務务導导報报紙纸雜杂誌志戲戏劇剧藝艺術术畫画圖图筆笔記记錄录標标準准確确據据護护"
    "衛卫環环態态統统黨党軍军戰战爭争權权勢势憲宪舉举於于幹干隻只臺台檯台颱台雲云麵面鬆松"
    "範范佔占盡尽儘尽騎骑驗验險险賤贱蕩荡"
)
TRADITIONAL_TO_SIMPLIFIED: dict[str, str] = {
    _TRADITIONAL_SIMPLIFIED_PAIRS[i]: _TRADITIONAL_SIMPLIFIED_PAIRS[i + 1]
    for i in range(0, len(_TRADITIONAL_SIMPLIFIED_PAIRS), 2)
    if _TRADITIONAL_SIMPLIFIED_PAIRS[i] != _TRADITIONAL_SIMPLIFIED_PAIRS[i + 1]
}

# Invisible characters used to split a word so that it slips past a filter.
_INVISIBLE = frozenset("\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u3164\uffa0")


def _dropped(char: str) -> bool:
    return char.isspace() or char in _INVISIBLE or unicodedata.category(char) == "Cf"


def normalise(text: str) -> tuple[str, list[int]]:
    """The normalised text and, for each of its characters, the index of its source character."""
    out: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        for folded in unicodedata.normalize("NFKC", char).casefold():
            folded = TRADITIONAL_TO_SIMPLIFIED.get(folded, folded)
            if _dropped(folded):
                continue
            out.append(folded)
            origin.append(index)
    return "".join(out), origin


def normalised_text(text: str) -> str:
    return normalise(text or "")[0]


@dataclass(frozen=True)
class Rule:
    """A keyword as the matcher needs it (loaded once per check)."""

    pk: int | None
    word: str
    normalised: str
    action: str
    note: str = ""

    @property
    def action_label(self) -> str:
        return str(Action(self.action).label)


@dataclass(frozen=True)
class Match:
    rule: Rule
    start: int  # in the original text
    end: int  # exclusive, in the original text
    written: str  # the stretch of the original text that matched


@dataclass(frozen=True)
class Verdict:
    """What the keywords say about a text: matches, the deciding action, the text to show."""

    text: str
    matches: tuple[Match, ...] = ()
    shown: str = ""
    decisive: Match | None = field(default=None)

    @property
    def action(self) -> str:
        """The strictest matched action, or "" when no keyword matched."""
        return self.decisive.rule.action if self.decisive else ""

    @property
    def rules(self) -> list[Rule]:
        seen: dict[str, Rule] = {}
        for match in self.matches:
            seen.setdefault(match.rule.normalised, match.rule)
        return list(seen.values())

    @property
    def words(self) -> list[str]:
        return [rule.word for rule in self.rules]

    @property
    def rule_ids(self) -> list[int]:
        return [rule.pk for rule in self.rules if rule.pk is not None]

    @property
    def rule_label(self) -> str:
        """Names the deciding keyword for the audit trail's ``rule``."""
        return f"keyword:{self.decisive.rule.word}" if self.decisive else ""


def load_rules() -> list[Rule]:
    rows = ModerationKeyword.objects.values_list("pk", "word", "normalised", "action", "note")
    return [Rule(*row) for row in rows if row[2]]


def _find_all(haystack: str, needle: str) -> Iterable[int]:
    start = haystack.find(needle)
    while start != -1:
        yield start
        start = haystack.find(needle, start + 1)


def mask(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """``text`` with each (start, end) stretch replaced by as many ``＊`` as it has characters."""
    chars = list(text)
    for start, end in spans:
        for index in range(start, end):
            chars[index] = CENSOR_CHAR
    return "".join(chars)


def find(text: str, needle_normalised: str) -> list[tuple[int, int]]:
    """Spans of the original ``text`` whose normalised form is ``needle_normalised``."""
    if not needle_normalised:
        return []
    norm, origin = normalise(text)
    return [
        (origin[start], origin[start + len(needle_normalised) - 1] + 1)
        for start in _find_all(norm, needle_normalised)
    ]


def screen(text: str, rules: Iterable[Rule] | None = None) -> Verdict:
    """Match ``text`` against the keyword rules (all of them, from the database, by default)."""
    rules = load_rules() if rules is None else list(rules)
    norm, origin = normalise(text)
    matches: list[Match] = []
    for rule in rules:
        for start in _find_all(norm, rule.normalised):
            begin, end = origin[start], origin[start + len(rule.normalised) - 1] + 1
            matches.append(Match(rule, begin, end, text[begin:end]))
    matches.sort(key=lambda match: (match.start, -STRICTNESS[Action(match.rule.action)]))
    decisive = max(matches, key=lambda match: STRICTNESS[Action(match.rule.action)], default=None)
    shown = mask(text, [(m.start, m.end) for m in matches if m.rule.action == Action.CENSOR])
    return Verdict(text=text, matches=tuple(matches), shown=shown, decisive=decisive)
