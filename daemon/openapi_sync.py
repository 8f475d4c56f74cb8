"""The OpenAPI description of the history sync routes (daemon/api_sync.py): a block of
paths and schemas that daemon/openapi.py merges into the document."""

from __future__ import annotations

from typing import Any


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


_INT = {"type": "integer"}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}

SCHEMAS: dict[str, Any] = {
    "SyncRequest": {
        "type": "object",
        "additionalProperties": False,
        "description": "Without a body: incremental (what is new since the last sync; the "
        "first sync reads everything).",
        "properties": {
            "full": {"type": "boolean", "default": False, "description": "Read everything"},
            "since": {"type": "string", "format": "date", "description": "Plays from this day"},
            "dry_run": {"type": "boolean", "default": False, "description": "Change nothing"},
        },
    },
    "SyncRun": {
        "type": "object",
        "properties": {
            "id": _INT,
            "state": {
                "type": "string",
                "enum": ["queued", "running", "succeeded", "failed", "interrupted"],
            },
            "trigger": {"type": "string", "enum": ["cli", "job", "api", "discord", "connect"]},
            "mode": {"type": "string", "enum": ["incremental", "full", "since"]},
            "since": _NULLABLE_TIME,
            "dry_run": {"type": "boolean"},
            "server_id": {"type": ["string", "null"], "description": "machineIdentifier"},
            "progress": {
                "type": "object",
                "properties": {
                    "phase": {"type": ["string", "null"], "enum": ["library", "history", None]},
                    "done": _INT,
                    "total": {"type": ["integer", "null"]},
                },
            },
            "shows_seen": _INT,
            "episodes_marked": _INT,
            "already_watched": _INT,
            "shows_added": _INT,
            "conflicts_raised": _INT,
            "episodes_held": {**_INT, "description": "Waiting behind conflicts"},
            "skipped": {
                "type": "object",
                "additionalProperties": _INT,
                "description": "Why -> how many",
            },
            "plex_requests": _INT,
            "error": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "started_at": _NULLABLE_TIME,
            "finished_at": _NULLABLE_TIME,
        },
    },
}

PATHS: dict[str, Any] = {
    "/api/plex/sync": {
        "post": {
            "summary": "Start a Plex watch history sync (runs in the background)",
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": _ref("SyncRequest")}},
            },
            "responses": {
                "202": {
                    "description": "Queued (or the run already on its way); follow status_url",
                    "headers": {"Location": {"schema": {"type": "string"}}},
                    "content": {
                        "application/json": {
                            "schema": {
                                "allOf": [
                                    _ref("SyncRun"),
                                    {
                                        "type": "object",
                                        "properties": {"status_url": {"type": "string"}},
                                    },
                                ]
                            }
                        }
                    },
                },
                "400": _error("Invalid body"),
                "401": _error("Missing, malformed or unknown bearer token"),
                "404": _error("Plex not connected"),
            },
        }
    },
    "/api/plex/sync/{id}": {
        "get": {
            "summary": "A sync run's state, progress, counts and error",
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
            ],
            "responses": {
                "200": {
                    "description": "The run",
                    "content": {"application/json": {"schema": _ref("SyncRun")}},
                },
                "401": _error("Missing, malformed or unknown bearer token"),
                "403": _error("Another user's run"),
                "404": _error("No such run"),
            },
        }
    },
}
