"""Helpers the tests share, one idea per module; fixtures stay in the conftest.py files, where pytest finds them.

Imported as ``support.<module>``: pytest puts ``tests/`` on the import path (``pythonpath`` in pyproject.toml),
and that is the way in: no ``sys.path`` edits in test modules. (One test module still imports another:
test_span_edge_windows takes its synthetic outage from test_outage_verdicts, whose plan dicts are being typed.)

- ``e2e``: experiments on the shop, the `chaos` command run as a user runs it, its journal;
- ``from_outside``: what a run left, seen from outside the harness (engine, Toxiproxy, the targets);
- ``redis_ping``: one redis PING round trip, to time a link;
- ``fakerun``: synthetic run dirs (journal, plan, samples) for analysis and report tests;
- ``fake_runner``: a stand-in for the runner in pytester runs, writing ``fakerun`` run dirs;
- ``fake_engine``: a Docker client with one container, for `chaos clean` and the ledger;
- ``valid_experiment``: a complete valid experiment, and writing one into a test's folder;
- ``fault_experiments``: experiments written from a head and the faults under test, for spec tests;
- ``doc_fragments``: a YAML fragment from the docs as a full experiment;
- ``check_corpus``: the compose corpus (tests/compose_corpus/) checked against Docker Compose; also a script.
"""
