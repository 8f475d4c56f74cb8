"""The TV tracker as its users see it: browse shows with progress, add from TMDB, up next,
mark and unmark by hand, history with where each watch came from, now watching, ratings,
notification switches and the activity chart. Shared by the Discord bot, the CLI and the
JSON API; knows nothing of either. (Nothing is imported here: the webhook intake imports
`core.tracker.ratings` and must not pull the rest in with it.)"""
