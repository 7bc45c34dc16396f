"""Cursor pagination (catena-api.md §2.0): follow ``next_page`` until it is null or empty.

A :class:`Paginator` is lazy: nothing is requested until it is iterated. Iterating it yields items
across pages; :meth:`Paginator.pages` yields whole pages, so an ingestion task can checkpoint the
``next_page`` cursor after each page and resume from it later.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from catena_airflow.client.errors import CatenaError
from catena_airflow.client.models import CatenaModel, Page

__all__ = ["PageFetcher", "Paginator"]

ItemT = TypeVar("ItemT", bound=CatenaModel)

#: ``(cursor) -> Page``: fetches one page; ``None`` is the first page.
PageFetcher = Callable[[str | None], Page[ItemT]]


class Paginator(Generic[ItemT]):
    """Items (or pages) of one list query."""

    def __init__(self, fetch_page: PageFetcher[ItemT], *, max_pages: int | None = None) -> None:
        self._fetch_page = fetch_page
        self._max_pages = max_pages

    def __iter__(self) -> Iterator[ItemT]:
        for page in self.pages():
            yield from page.items

    def pages(self, cursor: str | None = None) -> Iterator[Page[ItemT]]:
        """Pages from ``cursor`` (the first page when ``None``) to the last one.

        Raises :class:`CatenaError` if the API hands back a cursor it already gave, which would
        otherwise loop forever.
        """
        seen: set[str] = {cursor} if cursor else set()
        fetched = 0
        while True:
            page = self._fetch_page(cursor)
            fetched += 1
            yield page
            cursor = page.next_page or None
            if cursor is None or (self._max_pages is not None and fetched >= self._max_pages):
                return
            if cursor in seen:
                raise CatenaError(f"pagination loop: cursor {cursor!r} was returned twice")
            seen.add(cursor)

    def first_page(self, cursor: str | None = None) -> Page[ItemT]:
        """Exactly one page (one request)."""
        return self._fetch_page(cursor)

    def all(self) -> list[ItemT]:
        """Every item of every page, in a list."""
        return list(self)
