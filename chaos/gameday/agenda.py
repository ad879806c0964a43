"""The resolved agenda of a game day: what happens when, from the start, with the total. Pure.

Each step's own length is exact (its plan's phases and faults); starting the system and each step's
set-up and wrap-up (load start, teardown, reports) are estimates, marked as such.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from chaos.gameday.model import LoadedGameDay
from chaos.plan import Plan, make_plan

SYSTEM_UP_ESTIMATE = 30.0  # seconds: images present, healthchecks of a few services
ATTACH_ESTIMATE = 2.0
STEP_OVERHEAD_ESTIMATE = 8.0  # load start and stop, reverts, the step's own reports


@dataclass(frozen=True)
class Item:
    kind: str  # system | step | pause | teardown
    title: str
    offset: float  # seconds from the day's start
    duration: float
    estimate: bool = False  # the length is a guess, not planned
    step: int | None = None  # 1-based
    experiment: str | None = None
    detail: dict = field(default_factory=dict)

    @property
    def end(self) -> float:
        return self.offset + self.duration


@dataclass(frozen=True)
class Agenda:
    items: list[Item]

    @property
    def total(self) -> float:
        return self.items[-1].end if self.items else 0.0

    def steps(self) -> list[Item]:
        return [item for item in self.items if item.kind == "step"]

    def remaining_after(self, step: int) -> float:
        """Planned seconds from the end of step ``step`` to the end of the day."""
        ends = [item.end for item in self.items if item.kind == "step" and item.step == step]
        return self.total - ends[0] if ends else 0.0

    def to_json(self) -> dict:
        return {"total_s": self.total, "items": [asdict(item) for item in self.items]}


def step_plans(day: LoadedGameDay, run_ids: dict[int, str] | None = None) -> dict[int, Plan]:
    """Each step's plan (its own run id when given; a seed from the step when it sets one)."""
    return {step.index: make_plan(step.loaded, run_id=(run_ids or {}).get(step.index), seed=step.spec.seed)
            for step in day.steps}


def make_agenda(day: LoadedGameDay, plans: dict[int, Plan] | None = None) -> Agenda:
    plans = plans or step_plans(day)
    items: list[Item] = []
    offset = 0.0
    if day.spec.system.attach:
        first = Item("system", f"attach to the running system {day.spec.system.attach}", offset, ATTACH_ESTIMATE, True)
    else:
        first = Item("system", f"start the system ({', '.join(day.services or {})})", offset, SYSTEM_UP_ESTIMATE, True)
    items.append(first)
    offset = first.end
    for n, step in enumerate(day.steps):
        plan = plans[step.index]
        length = plan.duration + STEP_OVERHEAD_ESTIMATE
        items.append(Item("step", step.title, offset, length, True, step.index, plan.experiment, {
            "load_s": plan.duration,
            "phases": {w.phase: [w.start, w.end] for w in plan.timeline},
            "faults": [{"id": f.id, "name": f.name, "kind": f.kind, "target": f.target,
                        "at_s": _fault_start(plan, f.at), "duration_s": f.duration} for f in plan.faults],
            "hypotheses": [h.name for h in plan.steady_state],
            "runbook": step.spec.runbook,
            "experiment_file": str(step.loaded.source.file),
        }))
        offset += length
        pause = step.spec.pause_after if step.spec.pause_after is not None else day.spec.pause
        if n < len(day.steps) - 1 and pause > 0:
            items.append(Item("pause", "pause", offset, pause))
            offset += pause
    if not day.spec.system.attach:
        items.append(Item("teardown", "take the system down", offset, 5.0, True))
    return Agenda(items)


def _fault_start(plan: Plan, at: float) -> float:
    start = next((w.start for w in plan.timeline if w.phase == "fault"), 0.0)
    return start + at


def span(seconds: float) -> str:
    """A length as people say it: 45s, 2m 30s, 1h 05m."""
    whole = int(round(max(seconds, 0.0)))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s" if whole % 60 else f"{whole // 60}m"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


def clock(seconds: float) -> str:
    """+H:MM:SS from the day's start."""
    whole = int(round(seconds))
    return f"+{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def lines(day: LoadedGameDay, agenda: Agenda, start: datetime | None) -> list[str]:
    """The agenda as text: absolute times when the start is known, offsets otherwise."""
    out = []
    for item in agenda.items:
        when = (f"{(start + timedelta(seconds=item.offset)):%Y-%m-%d %H:%M:%S %Z}" if start
                else clock(item.offset))
        length = ("≈" if item.estimate else "") + span(item.duration)
        if item.kind == "step":
            out.append(f"{when}  step {item.step}: {item.title} ({item.experiment}, {length})")
            for fault in item.detail["faults"]:
                out.append(f"{'':{len(when)}}    fault {fault['name']} at +{fault['at_s']:.0f}s for "
                           f"{span(fault['duration_s'])}")
            if item.detail["runbook"]:
                for note in item.detail["runbook"].strip().splitlines():
                    out.append(f"{'':{len(when)}}    runbook: {note}")
        else:
            out.append(f"{when}  {item.title} ({length})")
    end = (f"{(start + timedelta(seconds=agenda.total)):%Y-%m-%d %H:%M:%S %Z}" if start else clock(agenda.total))
    out.append(f"{end}  end · total ≈{span(agenda.total)} "
               f"(stop_on: {day.spec.stop_on})")
    return out
