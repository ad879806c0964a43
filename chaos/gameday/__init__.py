"""Game days: a plan of several experiments run as one unit on one system, with a schedule, live
progress, notifications, a stop from any terminal, a calendar file and one combined report.

``model`` loads and checks a plan; ``schedule`` and ``calendar`` say when it runs; ``agenda`` lays it out;
``runner`` runs it (the only part with side effects, with ``notify`` and ``state``); ``report`` and
``report_html`` render the day's folder. See docs/gameday.md.
"""
