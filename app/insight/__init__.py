"""Insight: from surprise to fix.

* ``themes``: what nobody expected, from the agents' "other" notes (rising phrases, ranked);
* ``relink``: a theme (or any notes) made a hypothesis, its enquiries moved to it, undoably;
* ``alerts``: a hypothesis or theme far above normal between digests, posted once;
* ``impact``: after a fix shipped, did the enquiries about it drop (their share, tested)?

Pure functions of the data and ``now``, so a past moment can be replayed exactly.
"""
