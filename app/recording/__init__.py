"""Recording an enquiry, the hot path, in one place.

A tick or an API post enters at ``hot_path.TallyApp`` (ahead of the framework's
middleware), is answered by ``handlers``, parsed by ``requests`` (the note
scrubbed by app/privacy), its sender named by ``credentials``, and queued on the
group-commit ``writer``, which runs ``record.record_requests`` for a whole batch
on the SQL ``store`` (its enquiries committed together). The only ways out of this package on
that trip are app/csrf.py and app/privacy/.
"""
