"""UsageProblem: the test asked for something the system cannot do, told in one sentence."""

from __future__ import annotations

from chaos.errors import ChaosError


class UsageProblem(ChaosError):
    """The test asked for something the system cannot do (a link it does not route, a load with no
    locustfile): a mistake in the test, told in one sentence."""

    exit_code = 2
