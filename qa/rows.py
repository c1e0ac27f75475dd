"""A table row as data: its caption, the labels that name it and its (header, value)
columns. The chunker makes one per row passage; the store keeps it beside the rendered
text, and search, answers, targets and the API read these fields instead of splitting
the rendered string apart again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SECTION_SEP = " › "
ROW_SEP = " — "  # between a table row's caption, label and values


@dataclass(frozen=True, slots=True)
class TableRow:
    caption: str                           # the table's caption, or its section's last part
    labels: tuple[str, ...]                # parent row's label first: ("19. Tỷ lệ …",) or (parent, sub)
    columns: tuple[tuple[str, str], ...]   # (header, value); header "" when the table has none
    group: str = ""                        # a capitals row above that groups the rows ("CÁC CHỈ TIÊU XÃ HỘI")

    @property
    def label(self) -> str:
        return SECTION_SEP.join(self.labels)

    @property
    def own_label(self) -> str:
        """The row's own label, its parent's left out: "Số người đóng bảo hiểm y tế" of
        ("20. Số người đóng …", "Số người đóng bảo hiểm y tế"); the caption when it has none."""
        return self.labels[-1] if self.labels else self.caption

    @property
    def label_start(self) -> int:
        """Where the label (and the values after it) begins in ``text()``: after the caption."""
        return len(self.caption) + len(ROW_SEP) if self.caption and (self.labels or self.columns) else 0

    def text(self) -> str:
        """The rendering shown to users and indexed: "caption — label › sub — Col: value"."""
        parts = [self.caption, self.label] + [f"{h}: {v}" if h else v for h, v in self.columns]
        return ROW_SEP.join(p for p in parts if p)

    def value(self, header_words: str) -> str | None:
        """The first column whose header contains ``header_words`` (case-insensitive)."""
        needle = header_words.lower()
        return next((v for h, v in self.columns if needle in h.lower()), None)

    def to_json(self) -> dict[str, Any]:
        return {"caption": self.caption, "labels": list(self.labels), "group": self.group,
                "columns": [{"header": h, "value": v} for h, v in self.columns]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TableRow:
        return cls(caption=data.get("caption", ""), labels=tuple(data.get("labels", ())),
                   columns=tuple((c.get("header", ""), c.get("value", "")) for c in data.get("columns", ())),
                   group=data.get("group", ""))
