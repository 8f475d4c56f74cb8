"""The tracker in Discord: the /tv command group, its persistent buttons, and the outbox
renderers for new-episode notices and the weekly recap."""

from bot.tv.commands import tv_group
from bot.tv.views import DYNAMIC_ITEMS

__all__ = ["DYNAMIC_ITEMS", "tv_group"]
