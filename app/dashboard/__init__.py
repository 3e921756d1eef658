"""What the launch page and a hypothesis's drill-down show.

Product teams read these between meetings, often on a phone, and a board
meeting puts them on a projector. Everything follows one ``ranges.Selection``
(a range of time and channel/segment filters, carried in the URL) and the
time ``now``; nothing here looks at the clock.

* ``launch_page``: the totals, the table (``rows``), the charts (``charts``);
* ``drilldown``: one hypothesis alone, with its history (``history``).
"""

from app.dashboard import drilldown
from app.dashboard.launch_page import Dashboard, Split, build

__all__ = ["Dashboard", "Split", "build", "drilldown"]
