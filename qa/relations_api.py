"""A document's number, validity and relations as the API and the command line show them.

``document_relations(index, doc_id)`` (inside ``index.reading()``) gives what
``GET /documents/{id}`` adds to a document and what ``qa relations ID`` prints: the
number in its canonical form (``qa.docnumbers``), the status with its evidence
(``qa.relations.validity``), and the relations both ways: what this document is based
on, guides, amends, replaces, repeals or corrects (``outgoing``), and which indexed
documents do so to it (``incoming``), each with the citation as written, the linked
document where it is indexed, and the passage it was read from.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from qa.docnumbers import document_number, lookup, query_numbers
from qa.query import QueryError
from qa.relations import STATUS_LABELS, Evidence, Link, Relation
from qa.store import Index


class EvidenceOut(BaseModel):
    kind: str = Field(description="`effective`, `expires`, or the kind of the relation that changed the document")
    passage: str = Field(description="The clause, as written")
    doc_id: str = Field(description="The document the clause is in")
    start: int = Field(description="Character offsets of the clause in that document's text")
    end: int


class StatusOut(BaseModel):
    status: str = Field(description="in_force, not_yet_in_force, partly_amended, replaced, expired or unknown")
    label: str = Field(description="The status in Vietnamese, as the page shows it")
    effective_date: str = Field(description="ISO date it took effect (empty if the text does not say)")
    end_date: str = Field(description="ISO date it stopped being in force (empty if not known)")
    evidence: list[EvidenceOut]


class RelationOut(BaseModel):
    kind: str = Field(description="based_on, guides, amends, replaces, repeals or corrects")
    direction: str = Field(description="`outgoing`: this document acts on the cited one; `incoming`: another "
                                       "indexed document acts on this one")
    partial: bool = Field(description="Only parts of the cited document (an article, an annex)")
    cited_number: str = Field(description="The cited document's number as written (empty for a law cited by name)")
    cited_number_key: str = Field(description="That number in canonical form (folded, e.g. 21/NQ-HDND)")
    cited_title: str = Field(description="The cited document as written")
    cited_date: str = Field(description="The cited date as written (\"ngày 19/6/2015\"), empty if none")
    cited_iso_date: str = Field(description="The same as an ISO date, empty if not a full date")
    cited_issuer: str
    linked_id: str | None = Field(description="The other document's id when it is indexed (outgoing: the cited one; "
                                              "incoming: the citing one)")
    linked_title: str = ""
    linked_number: str = ""
    evidence: EvidenceOut = Field(description="The passage of the citing document the relation was read from")


class RelationsOut(BaseModel):
    outgoing: list[RelationOut]
    incoming: list[RelationOut]


class DocumentRelations(BaseModel):
    id: str
    number: str = Field(description="The number as the document writes it")
    number_key: str = Field(description="The number in canonical form (folded, year if written): 21/NQ-HDND")
    effective_date: str
    status: StatusOut
    relations: RelationsOut


def status_out(validity) -> StatusOut:
    return StatusOut(status=validity.status, label=STATUS_LABELS[validity.status],
                     effective_date=validity.effective_date, end_date=validity.end_date,
                     evidence=[evidence_out(e) for e in validity.evidence])


def evidence_out(e: Evidence) -> EvidenceOut:
    return EvidenceOut(kind=e.kind, passage=e.passage, doc_id=e.doc_id, start=e.start, end=e.end)


def number_key(number: str, kind: str = "") -> str:
    parsed = document_number(number, kind) if number else None
    return parsed.key if parsed else ""


def relation_out(r: Relation, direction: str, citing: str, linked: str | None, index: Index) -> RelationOut:
    other = index.documents().get(linked) if linked else None
    return RelationOut(
        kind=r.kind, direction=direction, partial=r.partial,
        cited_number=str(r.cited_number) if r.cited_number else "",
        cited_number_key=r.cited_number.key if r.cited_number else "",
        cited_title=r.cited_title, cited_date=r.cited_date_text, cited_iso_date=r.cited_date,
        cited_issuer=r.cited_issuer, linked_id=linked, linked_title=other.title if other else "",
        linked_number=other.number if other else "",
        evidence=EvidenceOut(kind=r.kind, passage=r.passage, doc_id=citing, start=r.start, end=r.end),
    )


def document_relations(index: Index, doc_id: str) -> DocumentRelations | None:
    """The number, validity and relations of ``doc_id`` (None if it is not indexed); call it
    inside ``index.reading()``."""
    doc = index.documents().get(doc_id)
    if doc is None:
        return None
    graph = index.graph()
    validity = index.validity(doc_id)
    links: dict[Relation, Link] = {l.relation: l for l in graph.outgoing(doc_id)}
    outgoing = [relation_out(r, "outgoing", doc_id, links[r].target if r in links else None, index)
                for r in graph.relations.get(doc_id, [])]
    incoming = [relation_out(l.relation, "incoming", l.source, l.source, index) for l in graph.incoming(doc_id)]
    return DocumentRelations(id=doc_id, number=doc.number, number_key=number_key(doc.number, doc.type),
                             effective_date=validity.effective_date, status=status_out(validity),
                             relations=RelationsOut(outgoing=outgoing, incoming=incoming))


def numbered(searcher, number: str) -> list[str]:
    """Ids of the indexed documents of ``number`` written any way ("21/NQ-HĐND", "nq 21",
    "Nghị quyết số 21", "15/2020/nd-cp"), best first; QueryError when it is not a number."""
    if not query_numbers(number):
        raise QueryError(f"{number[:80]!r} is not a document number; write it as on the document, "
                         "e.g. 21/NQ-HĐND, or as people say it, e.g. nq 21.", code="invalid_parameter")
    return lookup(number, searcher.lexicon.numbers)
