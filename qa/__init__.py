"""Semantic search and question answering over Vietnamese local-government documents.

The pipeline, one module a step: documents (load) -> chunking (passages) ->
embedding (vectors) -> store (index on disk) -> search -> answer; api and cli
are thin layers over search.
"""

__version__ = "0.1.0"
