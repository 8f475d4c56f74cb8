"""MappingService end to end: what the owner changes about a mapping decides the next
scrobble of that Plex show, over real HTTP and PostgreSQL with the wire-level fakes."""

from __future__ import annotations

import pytest

from core.errors import ConflictStateError, InvalidInputError, NotFoundError
from tests.harness import Daemon
from tests.test_conflicts import (
    current_agent,
    legacy,
    mapping_row,
    post,
    raise_conflict,
    show,
    show_id,
    watched,
)


async def _mapped(daemon: Daemon) -> tuple[int, str, int, int, int]:
    """Alice with Lost (2004) and Lost Girl (2010); Plex's "Lost" mapped by title and year.
    Returns (user id, secret, mapping id, lost id, lost girl id)."""
    user_id, secret = await daemon.connect()
    await daemon.import_shows(user_id, [show("Lost", 2004), show("Lost Girl", 2010)])
    lost = await show_id(daemon, user_id, "Lost")
    girl = await show_id(daemon, user_id, "Lost Girl")
    row = await post(daemon, current_agent(daemon, "2001", "Lost", 2004, 1), secret)
    assert (row["status"], row["tvshow_id"]) == ("success", lost)
    mapping = await mapping_row(daemon, user_id, "2001")
    return user_id, secret, mapping["id"], lost, girl


async def test_list_names_the_tracker_show_and_pages(daemon: Daemon) -> None:
    user_id, secret, mapping_id, lost, _ = await _mapped(daemon)
    await daemon.import_shows(user_id, [show("Dark", 2017)])
    await post(daemon, current_agent(daemon, "2002", "Dark", 2017, 1), secret)
    service = daemon.services.mappings

    listed = await service.list(user_id)
    assert [(m.mapping.plex_title, m.tvshow_title) for m in listed] == [
        ("Dark", "Dark"),
        ("Lost", "Lost"),
    ]
    assert listed[1].mapping.id == mapping_id and listed[1].mapping.tvshow_id == lost
    assert listed[1].mapping.match_method == "fuzzy"
    page = await service.list(user_id, limit=1, offset=1)
    assert [m.mapping.plex_title for m in page] == ["Lost"]
    with pytest.raises(InvalidInputError, match="limit must be"):
        await service.list(user_id, limit=0)
    bob, _ = await daemon.connect("bob")
    assert await service.list(bob) == []


async def test_remap_moves_future_scrobbles_only(daemon: Daemon) -> None:
    user_id, secret, mapping_id, lost, girl = await _mapped(daemon)
    updated = await daemon.services.mappings.remap(user_id, mapping_id, girl)
    assert (updated.id, updated.tvshow_id, updated.match_method) == (mapping_id, girl, "manual")
    assert updated.manually_confirmed and updated.match_confidence == 1.0

    row = await post(daemon, current_agent(daemon, "2001", "Lost", 2004, 2), secret)
    assert (row["status"], row["tvshow_id"]) == ("success", girl)
    assert await watched(daemon, girl) == [2]
    assert await watched(daemon, lost) == [1]


async def test_unmap_lets_the_next_scrobble_be_matched_afresh(daemon: Daemon) -> None:
    user_id, secret, mapping_id, lost, girl = await _mapped(daemon)
    await daemon.services.mappings.remap(user_id, mapping_id, girl)
    gone = await daemon.services.mappings.unmap(user_id, mapping_id)
    assert gone.tvshow_id == girl
    assert await mapping_row(daemon, user_id, "2001") is None
    with pytest.raises(NotFoundError, match=f"no mapping {mapping_id}"):
        await daemon.services.mappings.unmap(user_id, mapping_id)

    # Matched again from scratch: title + year say Lost, not the manual Lost Girl.
    row = await post(daemon, current_agent(daemon, "2001", "Lost", 2004, 3), secret)
    assert (row["status"], row["tvshow_id"]) == ("success", lost)
    assert (await mapping_row(daemon, user_id, "2001"))["match_method"] == "fuzzy"


async def test_sync_off_ignores_the_show_and_on_resumes(daemon: Daemon) -> None:
    user_id, secret, mapping_id, lost, _ = await _mapped(daemon)
    paused = await daemon.services.mappings.set_sync(user_id, mapping_id, False)
    assert not paused.sync_enabled and paused.tvshow_id == lost
    row = await post(daemon, current_agent(daemon, "2001", "Lost", 2004, 2), secret)
    assert (row["status"], row["action_taken"]) == ("ignored", "show_ignored")

    resumed = await daemon.services.mappings.set_sync(user_id, mapping_id, True)
    assert resumed.sync_enabled and resumed.match_method == "fuzzy"
    row = await post(daemon, current_agent(daemon, "2001", "Lost", 2004, 3), secret)
    assert (row["status"], row["tvshow_id"]) == ("success", lost)
    assert await watched(daemon, lost) == [1, 3]


async def test_other_users_mappings_and_shows_are_not_found(daemon: Daemon) -> None:
    user_id, _, mapping_id, lost, _ = await _mapped(daemon)
    bob, _ = await daemon.connect("bob")
    await daemon.import_shows(bob, [show("Lost", 2004)])
    bobs_lost = await show_id(daemon, bob, "Lost")
    service = daemon.services.mappings
    for call in (
        service.remap(bob, mapping_id, bobs_lost),
        service.unmap(bob, mapping_id),
        service.set_sync(bob, mapping_id, False),
        service.get(bob, mapping_id),
    ):
        with pytest.raises(NotFoundError, match=f"no mapping {mapping_id}"):
            await call
    with pytest.raises(NotFoundError, match=f"show {bobs_lost} is not in"):
        await service.remap(user_id, mapping_id, bobs_lost)
    with pytest.raises(NotFoundError, match="no mapping for Plex show '2001'"):
        await service.by_plex_key(bob, "2001")
    m = await mapping_row(daemon, user_id, "2001")
    assert (m["tvshow_id"], m["sync_enabled"]) == (lost, True)


async def test_remap_refuses_while_a_conflict_holds_scrobbles(daemon: Daemon) -> None:
    """A mapping with no show (an ignore rule switched back on) and an open conflict for
    the same Plex show: remapping around the conflict would leave its scrobbles held, so
    it says to resolve the conflict instead."""
    user_id, secret = await daemon.connect()
    await daemon.import_shows(user_id, [show("Dark", 2017), show("Darkwing Duck", 1991)])
    dark = await show_id(daemon, user_id, "Dark")
    conflict_id, log_ids = await raise_conflict(
        daemon, secret, [legacy("Dark", "2101", 1)], "low_confidence"
    )
    await daemon.fetch(
        """INSERT INTO plex_show_mappings (user_id, plex_rating_key, plex_title, tvshow_id,
               match_method, sync_enabled) VALUES ($1, '2101', 'Dark', NULL, 'ignored', true)""",
        user_id,
    )
    mapping = await daemon.services.mappings.by_plex_key(user_id, "2101")
    with pytest.raises(ConflictStateError, match=f"open conflict {conflict_id}"):
        await daemon.services.mappings.remap(user_id, mapping.id, dark)
    held = await daemon.fetch("SELECT status FROM plex_webhook_logs WHERE id = $1", log_ids[0])
    assert held[0]["status"] == "pending"
