"""`doctor`'s Discord check: the token is accepted and the gateway says HELLO.

Lives in bot/ because it needs a websocket client (aiohttp, which discord.py brings);
core's Doctor receives it as a probe.
"""

from __future__ import annotations

import asyncio

import aiohttp

from core.services.doctor import Check
from core.settings import Settings

API = "https://discord.com/api/v10"
GATEWAY_HELLO = 10


async def discord_probe(settings: Settings) -> Check:
    token = settings.discord_token.get_secret_value() if settings.discord_token else ""
    api = (settings.discord_api_base or API).rstrip("/")
    headers = {"Authorization": f"Bot {token}"}
    timeout = aiohttp.ClientTimeout(total=10)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http:
            async with http.get(f"{api}/users/@me", headers=headers) as answer:
                if answer.status == 401:
                    return Check(
                        "Discord",
                        False,
                        "Discord refuses DISCORD_TOKEN (401)",
                        "Developer Portal → your application → Bot → Reset Token, "
                        "then set DISCORD_TOKEN",
                    )
                answer.raise_for_status()
                me = await answer.json()
            gateway = settings.discord_gateway_url
            if not gateway:
                async with http.get(f"{api}/gateway/bot", headers=headers) as answer:
                    answer.raise_for_status()
                    gateway = str((await answer.json())["url"])
            async with http.ws_connect(f"{gateway.rstrip('/')}/?v=10&encoding=json") as ws:
                hello = await asyncio.wait_for(ws.receive_json(), 10)
    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
        return Check(
            "Discord",
            False,
            f"unreachable ({type(exc).__name__}: {exc})",
            "check internet access (the daemon runs without the bot meanwhile)",
            required=False,
        )
    if hello.get("op") != GATEWAY_HELLO:
        return Check("Discord", False, "the gateway did not say HELLO", required=False)
    return Check("Discord", True, f"token valid (bot {me.get('username')}), gateway reachable")
