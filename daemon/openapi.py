"""The OpenAPI 3.1 document served at /api/openapi.json, assembled from the parts each route
module contributes (`add_doc(app, ApiDoc(paths=..., schemas=...))` next to its routes).

Written by hand: the API is small. Answers are shaped field by field in daemon/api.py to
match the schemas here (every object schema lists all its fields and allows no others), and
schemathesis checks the running server against this document in the slow test step
(tests/test_openapi_conformance.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

# The API's limits, checked by daemon/api.py and described here.
MAX_ID = 2**63 - 1  # bigint ids
MAX_TMDB_ID = 2**31 - 1  # TMDB ids are stored as integer
MAX_PAGE = 200
MAX_OFFSET = 10_000_000
MAX_PICK = 100


@dataclass(frozen=True)
class ApiDoc:
    """Paths and component schemas one route module adds to the document."""

    paths: dict[str, Any] = field(default_factory=dict)
    schemas: dict[str, Any] = field(default_factory=dict)


DOCS = web.AppKey("openapi_docs", list[ApiDoc])


def add_doc(app: web.Application, doc: ApiDoc) -> None:
    app.setdefault(DOCS, []).append(doc)


# -- building blocks for route modules ---------------------------------------------------------


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def error(description: str) -> dict[str, Any]:
    return {"description": description, "content": json_content(ref("Error"))}


def obj(properties: dict[str, Any], *, required: bool = True, **extra: Any) -> dict[str, Any]:
    """An object schema with exactly these properties (all present in answers)."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        **extra,
    }
    if required:
        schema["required"] = list(properties)
    return schema


# Every operation can meet these.
SERVER_ERRORS = {
    "500": error("Unexpected error (logged; the answer carries no detail)"),
    "503": error("The database is unavailable, or the process is shutting down"),
}
AUTH_ERRORS = {"401": error("Missing, malformed or unknown bearer token")}
BODY_ERRORS = {
    "400": error("Invalid body: the message names the field"),
    "408": error("The body did not arrive within HTTP_BODY_TIMEOUT (the connection is closed)"),
    "413": error("Body over MAX_BODY_BYTES"),
}
ID_PARAM = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}
PAGE_PARAMS = [
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 50},
    },
    {
        "name": "offset",
        "in": "query",
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
    },
]

NULLABLE_INT = {"type": ["integer", "null"]}
NULLABLE_STR = {"type": ["string", "null"]}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
TIME = {"type": "string", "format": "date-time"}


def page_of(item: str) -> dict[str, Any]:
    return obj(
        {
            "items": {"type": "array", "items": ref(item)},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
            "next_offset": {**NULLABLE_INT, "description": "null on the last page"},
        }
    )


# -- the seed's JSON API (daemon/api.py) -------------------------------------------------------

_TEXT = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^\\x00-\\x1f\\x7f]+$"}
_TOKEN = {"type": "string", "minLength": 1, "maxLength": 512, "pattern": "^[\\x21-\\x7e]+$"}
_URL = {
    "type": "string",
    "minLength": 8,
    "maxLength": 2048,
    "pattern": "^https?://[\\x21-\\x7e]+$",
}
_MAPPING_FIELDS = {
    "id": {"type": "integer"},
    "plex_rating_key": {"type": "string"},
    "plex_guid": NULLABLE_STR,
    "plex_title": NULLABLE_STR,
    "plex_year": NULLABLE_INT,
    "tvshow_id": {**NULLABLE_INT, "description": "null: an ignore rule"},
    "tmdb_id": NULLABLE_INT,
    "tvdb_id": NULLABLE_INT,
    "imdb_id": NULLABLE_STR,
    "match_confidence": {"type": ["number", "null"]},
    "match_method": {
        "type": "string",
        "description": "existing, tmdb_id, tvdb_id, imdb_id, auto_add, fuzzy, manual, ignored",
    },
    "manually_confirmed": {"type": "boolean"},
    "sync_enabled": {"type": "boolean"},
}

API_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string", "description": "Safe to show to a user"},
            "id": {"type": "integer", "description": "The webhook log row, when one was kept"},
        },
        "additionalProperties": False,
    },
    "Config": obj(
        {
            "connected": {"type": "boolean", "description": "A Plex token is stored"},
            "plex_username": NULLABLE_STR,
            "plex_account_id": NULLABLE_INT,
            "server_url": NULLABLE_STR,
            "server_uuid": NULLABLE_STR,
            "enabled": {"type": "boolean"},
            "auto_add_shows": {"type": "boolean"},
            "auto_mark_watched": {"type": "boolean"},
            "followed_accounts": {"type": "array", "items": {"type": "string"}},
            "notify_channel_id": {**NULLABLE_STR, "description": "Discord channel id"},
            "webhook_url": {
                **NULLABLE_STR,
                "description": "Paste into Plex → Settings → Webhooks; contains the secret",
            },
        }
    ),
    "ConfigUpdate": obj(
        {
            "plex_token": {**_TOKEN, "writeOnly": True, "description": "Connect (or reconnect)"},
            "server_url": _URL,
            "accounts": {
                "type": "array",
                "maxItems": 100,
                "items": _TEXT,
                "description": "Plex accounts whose watches count (ids or names)",
            },
            "enabled": {"type": "boolean"},
            "auto_add_shows": {"type": "boolean"},
            "auto_mark_watched": {"type": "boolean"},
            "rotate_secret": {"type": "boolean", "default": False},
            "verify": {
                "type": "boolean",
                "default": True,
                "description": "Check the token with plex.tv (only with plex_token)",
            },
        },
        required=False,
        description=(
            "Fields left out are unchanged (null is refused: leave the field out). With "
            "plex_token: connect or reconnect, checked with plex.tv unless verify is false."
        ),
    ),
    "Mapping": obj(_MAPPING_FIELDS),
    "MappingListed": obj(
        {**_MAPPING_FIELDS, "tvshow_title": {**NULLABLE_STR, "description": "The tracker show"}}
    ),
    "MappingPatch": obj(
        {
            "tvshow_id": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_ID,
                "description": "Map to this tracker show",
            },
            "sync_enabled": {"type": "boolean", "description": "false: ignore this Plex show"},
        },
        required=False,
        minProperties=1,
    ),
    "Candidate": obj(
        {
            "source": {"type": "string", "enum": ["tracker", "tmdb"]},
            "tvshow_id": NULLABLE_INT,
            "tmdb_id": NULLABLE_INT,
            "title": {"type": "string"},
            "year": NULLABLE_INT,
            "confidence": {"type": "number"},
            "why": {"type": ["string", "null"]},
        }
    ),
    "Conflict": obj(
        {
            "id": {"type": "integer"},
            "plex_rating_key": {"type": "string"},
            "plex_guid": NULLABLE_STR,
            "plex_title": {"type": "string"},
            "plex_year": NULLABLE_INT,
            "conflict_type": {
                "type": "string",
                "enum": ["no_match", "multiple_matches", "low_confidence"],
            },
            "potential_matches": {"type": "array", "items": ref("Candidate")},
            "resolved": {"type": "boolean"},
            "resolved_tvshow_id": NULLABLE_INT,
            "resolution_action": NULLABLE_STR,
            "resolved_by": {**NULLABLE_STR, "description": "cli, api or discord:<id>"},
            "resolved_at": NULLABLE_TIME,
            "held_scrobbles": {"type": "integer", "description": "Scrobbles waiting behind it"},
            "created_at": TIME,
        }
    ),
    "ResolveChoice": obj(
        {
            "tvshow_id": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_ID,
                "description": "A show in the caller's tracker",
            },
            "tmdb_id": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_TMDB_ID,
                "description": "A TMDB TV show: the tracker's copy, or added from TMDB",
            },
            "pick": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_PICK,
                "description": "Candidate N of potential_matches (1-based); 404 past the list",
            },
            "ignore": {"type": "boolean", "enum": [True], "description": "Never sync it"},
        },
        required=False,
        minProperties=1,
        maxProperties=1,
        description="Exactly one field.",
    ),
    "Resolution": obj(
        {
            "conflict_id": {"type": "integer"},
            "plex_title": {"type": "string"},
            "action": {
                "type": "string",
                "description": "picked, added, chose_show or ignored",
            },
            "tvshow_id": NULLABLE_INT,
            "tvshow_title": NULLABLE_STR,
            "held": {"type": "integer", "description": "Held scrobbles replayed"},
            "episodes_marked": {"type": "integer", "description": "Episodes newly marked"},
            "already_resolved": {
                "type": "boolean",
                "description": "Resolved before: this reports that outcome and changed nothing",
            },
            "resolved_by": NULLABLE_STR,
            "resolved_at": NULLABLE_TIME,
        }
    ),
    "LogEntry": obj(
        {
            "id": {"type": "integer"},
            "event_type": NULLABLE_STR,
            "status": {
                "type": "string",
                "enum": ["pending", "success", "failed", "ignored", "duplicate"],
            },
            "action_taken": NULLABLE_STR,
            "plex_title": NULLABLE_STR,
            "plex_season": NULLABLE_INT,
            "plex_episode": NULLABLE_INT,
            "tvshow_id": NULLABLE_INT,
            "processing_duration_ms": NULLABLE_INT,
            "error_message": NULLABLE_STR,
            "attempts": {"type": "integer"},
            "created_at": TIME,
        }
    ),
    "Disconnected": obj({"disconnected": {"type": "boolean"}}),
}

API_PATHS: dict[str, Any] = {
    "/api/plex/config": {
        "get": {
            "summary": "The caller's Plex settings (never the Plex token)",
            "responses": {
                "200": {"description": "Settings", "content": json_content(ref("Config"))},
                **AUTH_ERRORS,
                "404": error("Plex not connected"),
                **SERVER_ERRORS,
            },
        },
        "post": {
            "summary": "Connect Plex (with plex_token) or change settings",
            "requestBody": {"required": True, "content": json_content(ref("ConfigUpdate"))},
            "responses": {
                "200": {"description": "Settings now", "content": json_content(ref("Config"))},
                **BODY_ERRORS,
                "400": error(
                    "Invalid body (the message names the field), or plex.tv refused the token"
                ),
                **AUTH_ERRORS,
                "404": error("Plex not connected and no plex_token given"),
                **SERVER_ERRORS,
            },
        },
        "delete": {
            "summary": "Disconnect Plex: forget the token and the webhook secret",
            "responses": {
                "200": {
                    "description": "Disconnected",
                    "content": json_content(ref("Disconnected")),
                },
                **AUTH_ERRORS,
                "404": error("Plex not connected"),
                **SERVER_ERRORS,
            },
        },
    },
    "/api/plex/mappings": {
        "get": {
            "summary": "Which tracker show each Plex show is",
            "parameters": PAGE_PARAMS,
            "responses": {
                "200": {"description": "A page", "content": json_content(page_of("MappingListed"))},
                "400": error("Bad paging parameters"),
                **AUTH_ERRORS,
                **SERVER_ERRORS,
            },
        }
    },
    "/api/plex/mappings/{id}": {
        "patch": {
            "summary": "Point a mapping at another show, or turn its sync off/on",
            "parameters": [ID_PARAM],
            "requestBody": {"required": True, "content": json_content(ref("MappingPatch"))},
            "responses": {
                "200": {"description": "The mapping", "content": json_content(ref("Mapping"))},
                **BODY_ERRORS,
                **AUTH_ERRORS,
                "403": error("Another user's mapping"),
                "404": error("No such mapping, or no such show in the caller's tracker"),
                "409": error("The mapping can't be changed that way"),
                **SERVER_ERRORS,
            },
        }
    },
    "/api/plex/conflicts": {
        "get": {
            "summary": "Open conflicts: Plex shows waiting for the owner to say which show",
            "responses": {
                "200": {
                    "description": "Open conflicts, oldest first",
                    "content": json_content(
                        obj({"items": {"type": "array", "items": ref("Conflict")}})
                    ),
                },
                **AUTH_ERRORS,
                **SERVER_ERRORS,
            },
        }
    },
    "/api/plex/conflicts/{id}/resolve": {
        "post": {
            "summary": "Resolve a conflict; the scrobbles held behind it are replayed",
            "parameters": [ID_PARAM],
            "requestBody": {"required": True, "content": json_content(ref("ResolveChoice"))},
            "responses": {
                "200": {"description": "Resolved", "content": json_content(ref("Resolution"))},
                **BODY_ERRORS,
                **AUTH_ERRORS,
                "403": error("Another user's conflict"),
                "404": error("No such conflict, candidate, tracker show or TMDB show"),
                "409": error("The conflict can't be resolved that way now"),
                **SERVER_ERRORS,
            },
        }
    },
    "/api/plex/logs": {
        "get": {
            "summary": "Webhook log, newest first",
            "parameters": [
                *PAGE_PARAMS,
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
                "200": {"description": "A page", "content": json_content(page_of("LogEntry"))},
                "400": error("Bad status or paging parameters"),
                **AUTH_ERRORS,
                **SERVER_ERRORS,
            },
        }
    },
}
API_DOC = ApiDoc(paths=API_PATHS, schemas=API_SCHEMAS)

# -- the webhook, health, metrics and this document (daemon/app.py) ----------------------------

_RETRY_AFTER = {
    "Retry-After": {"required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}
}

EDGE_DOC = ApiDoc(
    paths={
        "/api/plex/webhook": {
            "post": {
                "summary": "Receive a Plex webhook (Plex's multipart form with a payload part)",
                "security": [],
                "parameters": [
                    {
                        "name": "secret",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "payload": {"type": "string", "description": "Plex's JSON"},
                                    "thumb": {
                                        "type": "string",
                                        "contentMediaType": "image/jpeg",
                                    },
                                },
                                "required": ["payload"],
                            }
                        },
                        "application/json": {"schema": {"type": "object"}},
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "properties": {"payload": {"type": "string"}},
                                "required": ["payload"],
                            }
                        },
                    },
                },
                "responses": {
                    "200": {
                        "description": "Stored (queued, ignored or duplicate)",
                        "content": json_content(
                            obj(
                                {
                                    "status": {"type": "string"},
                                    "id": {"type": "integer"},
                                    "detail": {"type": "string"},
                                }
                            )
                        ),
                    },
                    "400": error("Malformed body or payload (a failed log row says why)"),
                    "401": error("Unknown secret"),
                    "408": error("The body did not arrive within HTTP_BODY_TIMEOUT"),
                    "413": error("Body over MAX_BODY_BYTES"),
                    "415": error("Not multipart/form-data, JSON or a form"),
                    "429": {
                        **error(
                            "Over PLEX_RATE_LIMIT per minute for this secret, or too many "
                            "failed secrets from this address"
                        ),
                        "headers": _RETRY_AFTER,
                    },
                    **SERVER_ERRORS,
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "Database, worker, scheduler and bot status",
                "security": [],
                "responses": {
                    "200": {"description": "Healthy", "content": json_content({"type": "object"})},
                    "503": {
                        "description": "Database down, worker dead, or draining",
                        "content": json_content({"type": "object"}),
                    },
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
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": json_content({"type": "object"}),
                    }
                },
            }
        },
    }
)


def openapi_document(docs: list[ApiDoc]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for doc in docs:
        for path, operations in doc.paths.items():
            paths.setdefault(path, {}).update(operations)
        schemas.update(doc.schemas)
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
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "plex-tracker"}
            },
            "schemas": schemas,
        },
    }


async def serve_openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(request.app.get(DOCS, [])))


def setup_openapi(app: web.Application) -> None:
    add_doc(app, EDGE_DOC)
    app.router.add_get("/api/openapi.json", serve_openapi)
