"""The OpenAPI 3.1 document served at /api/openapi.json, written by hand: the API is small,
and a test checks that every route under /api/plex is described here."""

from __future__ import annotations

from typing import Any

from daemon import openapi_sync


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json_content(_ref("Error"))}


_AUTH_ERRORS = {"401": _error("Missing, malformed or unknown bearer token")}
_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}
_PAGE = [
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
    },
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
]

_NULLABLE_INT = {"type": ["integer", "null"]}
_NULLABLE_STR = {"type": ["string", "null"]}
_NULLABLE_BOOL = {"type": ["boolean", "null"]}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string", "description": "Safe to show to a user"}},
    },
    "Config": {
        "type": "object",
        "properties": {
            "connected": {"type": "boolean", "description": "A Plex token is stored"},
            "plex_username": _NULLABLE_STR,
            "plex_account_id": _NULLABLE_INT,
            "server_url": _NULLABLE_STR,
            "server_uuid": _NULLABLE_STR,
            "enabled": {"type": "boolean"},
            "auto_add_shows": {"type": "boolean"},
            "auto_mark_watched": {"type": "boolean"},
            "followed_accounts": {"type": "array", "items": {"type": "string"}},
            "notify_channel_id": {**_NULLABLE_STR, "description": "Discord channel id"},
            "webhook_url": {
                **_NULLABLE_STR,
                "description": "Paste into Plex → Settings → Webhooks; contains the secret",
            },
        },
    },
    "ConfigUpdate": {
        "type": "object",
        "additionalProperties": False,
        "description": "Fields left out are unchanged. With plex_token: connect (or reconnect).",
        "properties": {
            "plex_token": {"type": "string", "writeOnly": True},
            "server_url": {"type": "string", "format": "uri"},
            "accounts": {"type": "array", "items": {"type": "string"}},
            "enabled": {"type": "boolean"},
            "auto_add_shows": {"type": "boolean"},
            "auto_mark_watched": {"type": "boolean"},
            "rotate_secret": {"type": "boolean", "default": False},
            "verify": {
                "type": "boolean",
                "default": True,
                "description": "Check the token with plex.tv",
            },
        },
    },
    "Mapping": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "user_id": {"type": "integer"},
            "plex_rating_key": {"type": "string"},
            "plex_guid": _NULLABLE_STR,
            "plex_title": _NULLABLE_STR,
            "plex_year": _NULLABLE_INT,
            "tvshow_id": _NULLABLE_INT,
            "tmdb_id": _NULLABLE_INT,
            "tvdb_id": _NULLABLE_INT,
            "imdb_id": _NULLABLE_STR,
            "match_confidence": {"type": ["number", "null"]},
            "match_method": {"type": "string"},
            "manually_confirmed": {"type": "boolean"},
            "sync_enabled": {"type": "boolean"},
        },
    },
    "MappingPatch": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "tvshow_id": {"type": "integer", "description": "Map to this tracker show"},
            "sync_enabled": {"type": "boolean", "description": "false: ignore this Plex show"},
        },
    },
    "Conflict": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "user_id": {"type": "integer"},
            "plex_rating_key": {"type": "string"},
            "plex_guid": _NULLABLE_STR,
            "plex_title": {"type": "string"},
            "plex_year": _NULLABLE_INT,
            "conflict_type": {
                "type": "string",
                "enum": ["no_match", "multiple_matches", "low_confidence"],
            },
            "potential_matches": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "source": {"type": "string", "enum": ["tracker", "tmdb"]},
                        "tvshow_id": _NULLABLE_INT,
                        "tmdb_id": _NULLABLE_INT,
                        "title": {"type": "string"},
                        "year": _NULLABLE_INT,
                        "confidence": {"type": "number"},
                        "why": {"type": "string"},
                    },
                },
            },
            "resolved": {"type": "boolean"},
            "resolved_tvshow_id": _NULLABLE_INT,
            "resolution_action": _NULLABLE_STR,
            "held_scrobbles": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "ResolveChoice": {
        "type": "object",
        "additionalProperties": False,
        "description": "Exactly one: a tracker show, a TMDB show (added if new), or ignore.",
        "properties": {
            "tvshow_id": {"type": "integer"},
            "tmdb_id": {"type": "integer"},
            "ignore": {"type": "boolean"},
        },
    },
    "Resolution": {
        "type": "object",
        "properties": {
            "conflict": _ref("Conflict"),
            "already_resolved": {"type": "boolean"},
            "replayed": {"type": "integer", "description": "Held scrobbles replayed"},
            "marked": {"type": "integer", "description": "Episodes newly marked watched"},
        },
    },
    "LogEntry": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "user_id": {"type": "integer"},
            "event_type": _NULLABLE_STR,
            "status": {
                "type": "string",
                "enum": ["pending", "success", "failed", "ignored", "duplicate"],
            },
            "action_taken": _NULLABLE_STR,
            "plex_title": _NULLABLE_STR,
            "plex_season": _NULLABLE_INT,
            "plex_episode": _NULLABLE_INT,
            "tvshow_id": _NULLABLE_INT,
            "processing_duration_ms": _NULLABLE_INT,
            "error_message": _NULLABLE_STR,
            "attempts": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "Page": {
        "type": "object",
        "properties": {
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
            "next_offset": {**_NULLABLE_INT, "description": "null on the last page"},
        },
    },
}


def _page_of(item: str) -> dict[str, Any]:
    return {
        "allOf": [
            _ref("Page"),
            {"type": "object", "properties": {"items": {"type": "array", "items": _ref(item)}}},
        ]
    }


PATHS: dict[str, Any] = {
    "/api/plex/webhook": {
        "post": {
            "summary": "Receive a Plex webhook (Plex's multipart form with a payload part)",
            "security": [],
            "parameters": [
                {"name": "secret", "in": "query", "required": True, "schema": {"type": "string"}}
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "payload": {"type": "string", "description": "Plex's JSON"},
                                "thumb": {"type": "string", "contentMediaType": "image/jpeg"},
                            },
                            "required": ["payload"],
                        }
                    }
                },
            },
            "responses": {
                "200": {"description": "Stored (queued, ignored or duplicate)"},
                "400": _error("Malformed body or payload (a failed log row says why)"),
                "401": _error("Unknown secret"),
                "413": _error("Body over MAX_BODY_BYTES"),
                "415": _error("Not multipart/form-data, JSON or a form"),
                "429": _error("Over PLEX_RATE_LIMIT per minute from this address"),
                "503": _error("Shutting down, or the database is unavailable"),
            },
        }
    },
    "/api/plex/config": {
        "get": {
            "summary": "The caller's Plex settings (never the Plex token)",
            "responses": {
                "200": {"description": "Settings", "content": _json_content(_ref("Config"))},
                **_AUTH_ERRORS,
                "404": _error("Plex not connected"),
            },
        },
        "post": {
            "summary": "Connect Plex (with plex_token) or change settings",
            "requestBody": {"required": True, "content": _json_content(_ref("ConfigUpdate"))},
            "responses": {
                "200": {"description": "Settings now", "content": _json_content(_ref("Config"))},
                "400": _error("Invalid body, or plex.tv refused the token"),
                **_AUTH_ERRORS,
                "404": _error("Plex not connected and no plex_token given"),
            },
        },
        "delete": {
            "summary": "Disconnect Plex: forget the token and the webhook secret",
            "responses": {
                "200": {
                    "description": "Disconnected",
                    "content": _json_content(
                        {"type": "object", "properties": {"disconnected": {"type": "boolean"}}}
                    ),
                },
                **_AUTH_ERRORS,
                "404": _error("Plex not connected"),
            },
        },
    },
    "/api/plex/mappings": {
        "get": {
            "summary": "Which tracker show each Plex show is",
            "parameters": _PAGE,
            "responses": {
                "200": {"description": "A page", "content": _json_content(_page_of("Mapping"))},
                "400": _error("Bad paging parameters"),
                **_AUTH_ERRORS,
            },
        }
    },
    "/api/plex/mappings/{id}": {
        "patch": {
            "summary": "Point a mapping at another show, or turn its sync off/on",
            "parameters": [_ID],
            "requestBody": {"required": True, "content": _json_content(_ref("MappingPatch"))},
            "responses": {
                "200": {"description": "The mapping", "content": _json_content(_ref("Mapping"))},
                "400": _error("Invalid body"),
                **_AUTH_ERRORS,
                "403": _error("Another user's mapping"),
                "404": _error("No such mapping, or no such show"),
            },
        }
    },
    "/api/plex/conflicts": {
        "get": {
            "summary": "Open conflicts: Plex shows waiting for the owner to say which show",
            "responses": {
                "200": {
                    "description": "Open conflicts, oldest first",
                    "content": _json_content(
                        {
                            "type": "object",
                            "properties": {"items": {"type": "array", "items": _ref("Conflict")}},
                        }
                    ),
                },
                **_AUTH_ERRORS,
            },
        }
    },
    "/api/plex/conflicts/{id}/resolve": {
        "post": {
            "summary": "Resolve a conflict; the scrobbles held behind it are replayed",
            "parameters": [_ID],
            "requestBody": {"required": True, "content": _json_content(_ref("ResolveChoice"))},
            "responses": {
                "200": {"description": "Resolved", "content": _json_content(_ref("Resolution"))},
                "400": _error("Invalid choice"),
                **_AUTH_ERRORS,
                "403": _error("Another user's conflict"),
                "404": _error("No such conflict, or no such show"),
                "409": _error("The conflict cannot be resolved that way now"),
            },
        }
    },
    "/api/plex/logs": {
        "get": {
            "summary": "Webhook log, newest first",
            "parameters": [
                *_PAGE,
                {
                    "name": "status",
                    "in": "query",
                    "schema": {
                        "type": "string",
                        "enum": ["pending", "success", "failed", "ignored", "duplicate"],
                    },
                },
            ],
            "responses": {
                "200": {"description": "A page", "content": _json_content(_page_of("LogEntry"))},
                "400": _error("Bad status or paging parameters"),
                **_AUTH_ERRORS,
            },
        }
    },
    "/healthz": {
        "get": {
            "summary": "Database, worker, scheduler and bot status",
            "security": [],
            "responses": {
                "200": {"description": "Healthy"},
                "503": {"description": "Database down, worker dead, or draining"},
            },
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus text format",
            "security": [],
            "responses": {"200": {"description": "Metrics", "content": {"text/plain": {}}}},
        }
    },
    "/api/openapi.json": {
        "get": {
            "summary": "This document",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1"}},
        }
    },
}


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "plex-tracker",
            "version": "0.1.0",
            "description": (
                "Keeps a TV-show tracker in step with Plex. Create a token with "
                "`plex-tracker api-token --user NAME` and send `Authorization: Bearer <token>`."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {**PATHS, **openapi_sync.PATHS},
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "plex-tracker"}
            },
            "schemas": {**SCHEMAS, **openapi_sync.SCHEMAS},
        },
    }
