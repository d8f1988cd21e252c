"""The OpenAPI 3.0 description served at ``/api/v1/openapi.json`` (checked by
tests/test_api.py with openapi-spec-validator). Kept by hand beside the routes it describes
(bot/api/views.py); the filter names come from the registry's own list."""

from __future__ import annotations

from typing import Any

from bot.models.api import WEBHOOK_EVENTS
from bot.registry.query import FILTER_FIELDS, STATUSES


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_COMMON = {"401": {"$ref": "#/components/responses/Unauthorized"},
           "429": {"$ref": "#/components/responses/Throttled"}}

_LIMIT = {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                      "maximum": 500, "default": 100}}
_CURSOR = {"name": "cursor", "in": "query", "schema": {"type": "string"},
           "description": "next_cursor of the previous page, as given"}
_OBJECT = {"type": "object", "additionalProperties": True}


def spec() -> dict[str, Any]:
    """The OpenAPI 3.0.3 document as a dict."""
    filters = [{"name": name, "in": "query", "required": False,
                "schema": {"type": "array", "items": {"type": "string"}}, "explode": True,
                "description": f"registry filter '{name}' (as the staff list; repeat for OR)"}
               for name in FILTER_FIELDS if name != "status"]
    filters.append({"name": "status", "in": "query",
                    "schema": {"type": "string", "enum": [k for k in STATUSES]}})
    filters.append({"name": "q", "in": "query", "schema": {"type": "string"},
                    "description": "search by name or phone digits (personal-data tokens)"})
    actor = {"type": "object", "properties": {
        "id": {"type": "integer"}, "kind": {"type": "string", "nullable": True},
        "gender": {"type": "string", "nullable": True},
        "birth_band": {"type": "string", "nullable": True},
        "quartier": {"type": "string", "nullable": True},
        "sector": {"type": "string", "nullable": True},
        "needs": {"type": "array", "items": {"type": "string"}},
        "registered": {"type": "boolean"}, "deleted": {"type": "boolean"},
        "updated_at": {"type": "string", "format": "date-time"},
        "name": {"type": "string", "nullable": True,
                 "description": "personal-data tokens only"},
        "phone": {"type": "string", "nullable": True,
                  "description": "masked (+223******10); personal-data tokens only"}},
        "additionalProperties": True}
    return {
        "openapi": "3.0.3",
        "info": {"title": "essbot partner API", "version": "1",
                 "description": "The ESS registry of Commune III (Bamako), its anonymous "
                                "statistics and its announcements. See docs/api.md. "
                                f"Webhook events: {', '.join(WEBHOOK_EVENTS)}."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"token": []}],
        "components": {
            "securitySchemes": {"token": {
                "type": "apiKey", "in": "header", "name": "Authorization",
                "description": "Authorization: Token <token>"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {
                    "error": {"type": "object", "required": ["code", "message"], "properties": {
                        "code": {"type": "string"}, "message": {"type": "string"},
                        "details": {"type": "array", "items": {"type": "string"}}}}}},
                "Actor": actor,
                "ActorPage": {"type": "object", "properties": {
                    "data": {"type": "array", "items": {"$ref": "#/components/schemas/Actor"}},
                    "next_cursor": {"type": "string"}, "has_more": {"type": "boolean"},
                    "complete_until": {"type": "string", "format": "date-time"}}},
                "Delivery": {"type": "object",
                             "additionalProperties": {"type": "integer"}},
                "Announcement": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "title": {"type": "string"},
                    "state": {"type": "string"},
                    "delivery": {"$ref": "#/components/schemas/Delivery"}},
                    "additionalProperties": True},
                "NewAnnouncement": {"type": "object", "required": ["title", "text_fr"],
                                    "properties": {
                    "title": {"type": "string", "maxLength": 120},
                    "text_fr": {"type": "string"}, "text_bm": {"type": "string"},
                    "segment": {"type": "object", "additionalProperties": {
                        "type": "array", "items": {"type": "string"}}},
                    "channel_policy": {"type": "string"}}},
            },
            "responses": {
                "Unauthorized": _error("no token, or an unknown or revoked one"),
                "Forbidden": _error("outside the token's scope or rights"),
                "Throttled": _error("too many calls for this token (ESSBOT_API_RATE); see "
                                    "Retry-After"),
                "NotFound": _error("no such record"),
                "BadRequest": _error("a parameter cannot be read"),
            },
        },
        "paths": {
            "/actors": {"get": {
                "summary": "Registry entries, oldest change first (incremental sync)",
                "parameters": [*filters, _LIMIT, _CURSOR,
                               {"name": "modified_after", "in": "query",
                                "schema": {"type": "string", "format": "date-time"}}],
                "responses": {"200": _ok("a page", {"$ref": "#/components/schemas/ActorPage"}),
                              "400": {"$ref": "#/components/responses/BadRequest"},
                              "403": {"$ref": "#/components/responses/Forbidden"},
                              **_COMMON}}},
            "/actors/{actor_id}": {"get": {
                "summary": "One registry entry",
                "parameters": [{"name": "actor_id", "in": "path", "required": True,
                                "schema": {"type": "integer"}}],
                "responses": {"200": _ok("the entry", {"$ref": "#/components/schemas/Actor"}),
                              "404": {"$ref": "#/components/responses/NotFound"}, **_COMMON}}},
            "/stats": {"get": {
                "summary": "The dashboard's anonymous statistics",
                "parameters": [{"name": "period", "in": "query", "schema": {
                    "type": "string", "enum": ["tout", "12m", "30j"], "default": "tout"}}],
                "responses": {"200": _ok("counts", _OBJECT),
                              "400": {"$ref": "#/components/responses/BadRequest"},
                              **_COMMON}}},
            "/announcements": {
                "get": {"summary": "Announcements with their delivery counts, newest first",
                        "parameters": [_LIMIT, _CURSOR],
                        "responses": {"200": _ok("a page", {"type": "object", "properties": {
                            "data": {"type": "array",
                                     "items": {"$ref": "#/components/schemas/Announcement"}},
                            "next_cursor": {"type": "string", "nullable": True},
                            "has_more": {"type": "boolean"}}}), **_COMMON}},
                "post": {"summary": "Create a draft announcement (scope write)",
                         "requestBody": {"required": True, "content": {"application/json": {
                             "schema": {"$ref": "#/components/schemas/NewAnnouncement"}}}},
                         "responses": {"201": _ok("the draft and its preview", _OBJECT),
                                       "400": {"$ref": "#/components/responses/BadRequest"},
                                       "403": {"$ref": "#/components/responses/Forbidden"},
                                       **_COMMON}}},
            "/announcements/{announcement_id}": {"get": {
                "summary": "One announcement and its delivery report",
                "parameters": [{"name": "announcement_id", "in": "path", "required": True,
                                "schema": {"type": "integer"}}],
                "responses": {"200": _ok("the report", _OBJECT),
                              "404": {"$ref": "#/components/responses/NotFound"}, **_COMMON}}},
            "/announcements/{announcement_id}/send": {"post": {
                "summary": "Send a draft now (scope write)",
                "parameters": [{"name": "announcement_id", "in": "path", "required": True,
                                "schema": {"type": "integer"}}],
                "responses": {"202": _ok("the plan: recipients, skipped, parts", _OBJECT),
                              "403": {"$ref": "#/components/responses/Forbidden"},
                              "404": {"$ref": "#/components/responses/NotFound"},
                              "409": _error("already started, or no sender configured"),
                              **_COMMON}}},
            "/openapi.json": {"get": {"summary": "This description", "security": [],
                                      "responses": {"200": _ok("OpenAPI 3", _OBJECT)}}},
        },
    }
