"""The report's languages: one catalogue module per language (:mod:`.en`, :mod:`.lv`; a third is
one more file listed in :data:`LANGUAGES`), each holding the words of the tables and the lead
findings' sentence templates, and how its numbers are written.

>>> words = catalogue("lv")
>>> words.num(0.2961, ".3g"), words["read_from.warm"]
('0,296', 'no RAM (lapu kešatmiņa)')
>>> words.label("emulated H100"), words.label("convnet")   # no Latvian wording: English, remembered
('emulēts H100', 'convnet')
>>> words.missing
['convnet']

A word or label a language lacks reads in English (never blank) and is kept in :attr:`Words.missing`,
which the report lists at its end. The numbers come from the same computation in every language;
only how they are written differs (decimal comma, thousands separator).
"""
from __future__ import annotations

import importlib
import re

LANGUAGES = ("en", "lv")
DEFAULT = "en"
# A context ("CIFAR-10 · 32 px · 512 images, emulated H100, warm cache") splits into phrases here.
PHRASE_SEPARATORS = re.compile(r"( · |, )")
COUNTED = re.compile(r"^(\d[\d,]*) (image|worker|epoch|rank|warm-up epoch|request)s?$")
BATCH = re.compile(r"^batch (\d+)$")


class UnknownLanguage(ValueError):
    pass


def check_language(code: str) -> str:
    """``code`` when a catalogue exists for it; else an error listing the languages there are."""
    if code not in LANGUAGES:
        raise UnknownLanguage(f"report language {code!r} is not available; languages: {', '.join(LANGUAGES)}")
    return code


class Words:
    """One language's catalogue, with English beneath it for whatever it lacks."""

    def __init__(self, code: str):
        self.code = check_language(code)
        self.module = importlib.import_module(f"{__name__}.{code}")
        self.english = importlib.import_module(f"{__name__}.{DEFAULT}")
        self.missing: list[str] = []

    def _remember(self, text: str) -> None:
        if text not in self.missing:
            self.missing.append(text)

    def __getitem__(self, key: str):
        if key in self.module.WORDS:
            return self.module.WORDS[key]
        self._remember(key)
        return self.english.WORDS[key]

    def label(self, text) -> str:
        """A data label (dataset name, workload, cache state) in this language; English where it
        has no wording (remembered in :attr:`missing`)."""
        text = str(text)
        if self.code == DEFAULT:
            return text
        if text in self.module.LABELS:
            return self.module.LABELS[text]
        self._remember(text)
        return text

    def phrase(self, context: str) -> str:
        """A context of labels joined by ``" · "`` and ``", "``, each label in this language;
        sizes and counts keep their numbers."""
        if self.code == DEFAULT:
            return context
        parts = PHRASE_SEPARATORS.split(context)
        return "".join(part if k % 2 else self._phrase_part(part) for k, part in enumerate(parts))

    def _phrase_part(self, part: str) -> str:
        if re.fullmatch(r"\d+ px|\d+(\.\d+)? ms", part):
            return part
        if found := BATCH.match(part):
            return self["batch"].format(n=found[1])
        if found := COUNTED.match(part):
            return self.counted(int(found[1].replace(",", "")), found[2])
        return self.label(part)

    def num(self, value, spec: str) -> str:
        """``value`` formatted by ``spec`` with this language's decimal mark and thousands separator."""
        text = format(value, spec)
        return text.translate({ord("."): self.module.DECIMAL, ord(","): self.module.THOUSANDS})

    def interval(self, median, low, high, spec: str = ".3g", unit: str = "") -> str:
        """``"0.123 [0.120, 0.130]"`` (English), ``"0,123 [0,120; 0,130]"`` (Latvian)."""
        return f"{self.num(median, spec)}{unit} [{self.num(low, spec)}{self.module.LIST_SEP} {self.num(high, spec)}]"

    def estimate(self, estimate, unit: str = " s", spec: str = ".3g") -> str:
        """:meth:`thesis_lib.results.ranking.Estimate.text` in this language."""
        if not estimate.has_interval:
            return self["estimate.single"].format(median=self.num(estimate.median, spec) + unit, n=estimate.n)
        return self.interval(estimate.median, estimate.low, estimate.high, spec, unit)

    def effect(self, effect) -> str:
        """:meth:`thesis_lib.results.ranking.Effect.text` in this language."""
        return self["effect"].format(ratio=self.num(effect.ratio, ".2f"), low=self.num(effect.low, ".2f"),
                                     high=self.num(effect.high, ".2f"))

    def counted(self, n: int, noun: str) -> str:
        """``"1 worker"``, ``"2 workers"``, ``"10,000 images"``; Latvian: ``"21 attēls"``, ``"10 000 attēli"``."""
        singular, plural = self["nouns"][noun]
        return f"{self.num(int(n), ',d')} {singular if self.singular(int(n)) else plural}"

    def singular(self, n: int) -> bool:
        if self.module.PLURAL == "latvian":
            return n % 10 == 1 and n % 100 != 11
        return n == 1

    def count_phrase(self, n: int, noun: str) -> str:
        """``"the one run"``, ``"all 3 runs"``."""
        singular, plural = self["nouns"][noun]
        return (self["count.one"].format(noun=singular) if n == 1
                else self["count.all"].format(n=n, noun=plural))

    def listing(self, items: list[str]) -> str:
        """``"a"``, ``"a and b"``, ``"a, b and c"``."""
        return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {self['and']} {items[-1]}"

    def missing_note(self) -> str:
        """The labels shown in English for want of wording in this language (Markdown), or ``""``."""
        if not self.missing:
            return ""
        listed = "".join(f"- {text}\n" for text in self.missing)
        return f"\n## {self['missing.heading']}\n\n{listed}"


def catalogue(code: str = DEFAULT) -> Words:
    """A fresh :class:`Words` for ``code`` (its :attr:`~Words.missing` starts empty)."""
    return Words(code)
