"""Signals other parts subscribe to; linking does not know who listens (sync does, later).

- `links_went_live(account_id, link_ids=[...])`: rows became `linked`; their sync starts.
- `links_stopped(account_id, link_ids=[...])`: rows left `linked`; their sync stops at once.
"""

from blinker import Namespace

_signals = Namespace()
links_went_live = _signals.signal("links-went-live")
links_stopped = _signals.signal("links-stopped")
