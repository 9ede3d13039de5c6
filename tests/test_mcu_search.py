"""Searching the mcu space (``--space mcu``): end to end on digits through the planner, the job's space stored and
shown (CLI and REST), the winner feasible as the feasibility agent says, refusals before anything is stored, and the
sampled fallback once a proposer runs dry."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from agents.feasibility import FeasibilityAgent
from agents.messages import EvaluatedCandidate, FeasibilityRequest, ProposalBatch, ProposalRequest
from agents.proposers import registry
from automcu.cli.app import app
from automcu.core.config import get_settings
from automcu.engine.fallback import SampledFallback
from automcu.engine.state import JobState
from automcu.hardware.spec import HardwareSpec
from automcu.jobs.spec import JobSpec
from automcu.storage.db import open_database
from search_spaces.mcu.space import SPACE_SIZE, MCUArch, is_mcu_arch

pytest.importorskip("torch")
runner = CliRunner()
API = "/api/v1"
# STM32F411 with a tighter budget: the larger macros overflow it, so the feasibility agent rejects some proposals
TARGET = ["--board", "STM32F411", "--sram-kb", "40", "--flash-kb", "192"]


def _search(db_url: str, *extra: str) -> Any:
    return runner.invoke(app, ["search", "--space", "mcu", "--dataset", "digits", *TARGET, "--json", "--quiet",
                               "--db", db_url, *extra])


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    """One mcu search on digits (6 evaluations, 2 epochs each), shared by the read-side tests below."""
    db_url = f"sqlite:///{tmp_path_factory.mktemp('mcu') / 'automcu.db'}"
    res = _search(db_url, "--budget", "6", "--proposer", "evolution", "--epochs", "2", "--seed", "3")
    assert res.exit_code == 0, res.output
    yield db_url, json.loads(res.stdout)


def test_mcu_search_runs_end_to_end_and_its_winner_fits(searched: tuple[str, dict[str, Any]]) -> None:
    db_url, out = searched
    assert out["status"] == "succeeded" and out["n_evaluated"] == 6, out
    assert out["space_size"] == SPACE_SIZE and out["space_feasible"] is None  # not swept, so not claimed
    best = out["best"]
    arch = MCUArch.from_string(best["arch"])  # an mcu string, macro included
    assert best["index"] == arch.code and best["val_acc"] > 20  # trained for real: chance is 10 %
    hw = JobSpec(dataset="digits", board="STM32F411", hardware={"sram_kb": 40, "flash_kb": 192}).resolve_hardware()
    report = FeasibilityAgent().check(FeasibilityRequest(arch=best["arch"], dataset="digits", hardware=hw))
    assert report.feasible and report.flash_bytes == best["flash_bytes"]
    assert report.peak_sram_bytes == best["peak_sram_bytes"] <= 40 * 1024

    shown = json.loads(runner.invoke(app, ["show", out["job_id"], "--candidates", "--json", "--db", db_url]).stdout)
    assert shown["space"] == "mcu" and shown["best"]["arch"] == best["arch"]
    assert shown["proposer_used"] == "evolution"  # the registry name: a resume makes the same proposer
    cands = shown["candidates"]
    assert all(is_mcu_arch(c["arch"]) for c in cands)
    assert {c["status"] for c in cands} == {"evaluated"}  # evolution screens by the estimate: nothing paid overflows
    assert all(c["sram_total_bytes"] <= 40 * 1024 and c["flash_total_bytes"] <= 192 * 1024 for c in cands)
    assert len({MCUArch.from_string(c["arch"]).macro_string() for c in cands}) > 1  # the macro is searched
    assert len({c["val_acc"] for c in cands if c["status"] == "evaluated"}) > 1
    text = runner.invoke(app, ["show", out["job_id"], "--db", db_url]).stdout
    assert "space: mcu" in text and best["arch"] in text


def test_rest_reads_show_the_space_and_the_mcu_winner(searched: tuple[str, dict[str, Any]],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from api.core.security import create_token
    from api.main import create_app

    db_url, out = searched
    monkeypatch.setenv("AUTOMCU_DB_URL", db_url)
    get_settings.cache_clear()
    token = create_token(open_database(db_url), "space-admin", admin=True)
    with TestClient(create_app()) as client:
        job = client.get(f"{API}/jobs/{out['job_id']}", headers={"Authorization": f"Bearer {token}"}).json()
        spec = client.get(f"{API}/openapi.json").json()["components"]["schemas"]["JobSpec"]["properties"]["space"]
    assert job["space"] == "mcu" and job["best"]["arch"] == out["best"]["arch"]
    assert spec["enum"] == ["nb201", "mcu"] and spec["default"] == "nb201"


def test_rest_job_body_takes_and_checks_the_space(alice_api: tuple[Any, dict[str, str]]) -> None:
    client, h = alice_api
    for body, words in (({"dataset": "cifar10", "space": "mcu"}, "lookup"),
                        ({"dataset": "digits", "space": "vgg"}, "nb201"),
                        ({"dataset": "digits", "space": "mcu",
                          "compress": {"teacher": "C8-N1-S1:|skip_connect~0|+|skip_connect~0|none~1|+|"
                                       "skip_connect~0|none~1|none~2|", "teacher_weighting": "entropy"}},
                         "at least two")):
        r = client.post(f"{API}/jobs", json=body, headers=h)
        assert r.status_code == 422 and words in r.text, (body, r.text)
    assert client.get(f"{API}/jobs", headers=h).json()["total"] == 0  # nothing stored
    nb = client.post(f"{API}/jobs", json={"dataset": "cifar10", "budget": 2}, headers=h).json()["id"]
    body = {"dataset": "digits", "space": "mcu", "budget": 2}
    mcu = client.post(f"{API}/jobs", json=body, headers=h).json()["id"]
    assert client.get(f"{API}/jobs/{nb}", headers=h).json()["space"] == "nb201"  # the default, unchanged
    assert client.get(f"{API}/jobs/{mcu}", headers=h).json()["space"] == "mcu"
    listed = {j["id"]: j["space"] for j in client.get(f"{API}/jobs", headers=h).json()["items"]}
    assert listed[nb] == "nb201" and listed[mcu] == "mcu"  # the list says it too


@pytest.mark.parametrize(("args", "words"), [
    (["--dataset", "cifar10"], "NAS-Bench-201 lookup"),
    (["--dataset", "ImageNet16-120"], "NAS-Bench-201 lookup"),
    (["--dataset", "digits", "--proposer", "nb201-walker"], "nb201 space only"),
    (["--dataset", "digits", "--space", "darts"], "nb201"),
])
def test_cli_refuses_what_the_mcu_space_cannot_search(tmp_path: Path, args: list[str], words: str,
                                                     nb201_only_proposer: str) -> None:
    db = tmp_path / "x.db"
    cmd = ["search", "--space", "mcu", *args, "--budget", "2", "--db", f"sqlite:///{db}"]
    res = runner.invoke(app, cmd)
    assert res.exit_code == 2 and words in res.output and "Traceback" not in res.output, res.output
    assert not db.exists() or sqlite3.connect(db).execute("select count(*) from jobs").fetchone()[0] == 0


@pytest.fixture()
def nb201_only_proposer() -> Any:
    """A plug-in proposer registered for the nb201 space only (as an installed package's entry point can be)."""
    registry.register("nb201-walker", "agents.proposers.random_search:RandomProposer", "nb201 only, for tests")
    yield "nb201-walker"
    registry.unregister("nb201-walker")


def test_registry_gives_each_space_its_own_proposers(nb201_only_proposer: str) -> None:
    from agents.proposers.mcu import MCUEvolutionProposer, MCURandomProposer
    from agents.proposers.mcu_local import MCULocalSearchProposer
    from agents.proposers.mcu_predictor import MCUPredictorProposer

    settings = get_settings()
    assert isinstance(registry.make_proposer("evolution", settings, "mcu"), MCUEvolutionProposer)
    assert isinstance(registry.make_proposer("random", settings, "mcu"), MCURandomProposer)
    assert isinstance(registry.make_proposer("local", settings, "mcu"), MCULocalSearchProposer)
    assert isinstance(registry.make_proposer("predictor", settings, "mcu"), MCUPredictorProposer)
    assert isinstance(registry.make_proposer("auto", settings, "mcu"), MCUEvolutionProposer)
    assert registry.make_proposer("evolution", settings).name == "evolution"  # nb201 unchanged
    assert all(registry.supports(n, "mcu") for n in ("random", "evolution", "local", "predictor", "llm", "auto"))
    assert not registry.supports(nb201_only_proposer, "mcu") and registry.supports(nb201_only_proposer, "nb201")
    with pytest.raises(ValueError, match="does not search the mcu space"):
        registry.make_proposer(nb201_only_proposer, settings, "mcu")
    with pytest.raises(ValueError, match="nb201 space only"):
        JobSpec(dataset="digits", space="mcu", proposer=nb201_only_proposer)


def test_mcu_evolution_screens_by_the_estimate_where_random_does_not() -> None:
    from agents.proposers.mcu import MCUEvolutionProposer, MCURandomProposer

    hw, agent = _hw(40, 192), FeasibilityAgent()
    ok = {"rnd": 0, "evo": 0}
    for key, proposer in (("rnd", MCURandomProposer()), ("evo", MCUEvolutionProposer(population=4, sample=2))):
        parents = (MCUArch((0, 3, 4, 1, 2, 0), C=12, N=1, stem_stride=2), MCUArch((3, 3, 5, 1, 2, 2), C=24, N=1))
        evaluated = [EvaluatedCandidate(arch=a.to_string(), val_acc=80.0 - i) for i, a in enumerate(parents)]
        req = ProposalRequest(dataset="digits", hardware=hw, n=12, seed=2, evaluated=evaluated,
                              seen=[e.arch for e in evaluated])
        for p in proposer.propose(req).proposals:
            ok[key] += agent.check(FeasibilityRequest(arch=p.arch, dataset="digits", hardware=hw)).feasible
    assert ok["evo"] == 12 and ok["rnd"] < 12  # the agent still decides; random pays for its overflows


def _hw(sram_kb: float, flash_kb: float) -> HardwareSpec:
    spec = JobSpec(dataset="digits", hardware={"sram_kb": sram_kb, "flash_kb": flash_kb, "clock_mhz": 64,
                                                   "core": "cortex-m4f"})
    hw = spec.resolve_hardware()
    assert hw is not None
    return hw


def test_sampled_fallback_proposes_new_archs_that_fit_and_says_what_it_tried() -> None:
    agent = FeasibilityAgent()
    fb = SampledFallback(agent, "digits", _hw(40, 192), None)
    assert fb.none_fit() is None
    state = JobState([], 0, SPACE_SIZE)
    batch = fb.propose(state, seed=1, step=5, n=3)
    assert isinstance(batch, ProposalBatch) and len(batch.proposals) == 3
    assert batch == fb.propose(state, seed=1, step=5, n=3)  # seeded: a resume draws the same
    for p in batch.proposals:
        req = FeasibilityRequest(arch=p.arch, dataset="digits", hardware=_hw(40, 192))
        assert agent.check(req).feasible and "drawn this step" in p.reason
    why, figures = fb.ran_dry("evolution", state)
    assert figures["space_size"] == SPACE_SIZE and "random draws" in why


def test_sampled_fallback_never_claims_the_space_is_exhausted() -> None:
    smallest = SampledFallback(FeasibilityAgent(), "digits", None, None)
    assert smallest.none_fit() is None  # unconstrained: everything fits
    # a budget just above the cheapest network: random draws (mostly larger) rarely fit
    agent = FeasibilityAgent()
    from search_spaces.mcu.space import EDGES, SKIP

    ops = [0] * 6
    ops[EDGES.index((3, 0))] = SKIP
    cheapest = agent.check(FeasibilityRequest(arch=MCUArch(tuple(ops), C=8, N=1, stem_stride=2).to_string(),
                                              dataset="digits", hardware=_hw(1024, 4096)))  # same core
    hw = _hw(cheapest.peak_sram_bytes / 1024, cheapest.flash_bytes / 1024 + 0.5)
    fb = SampledFallback(agent, "digits", hw, None, draws=5)
    assert fb.none_fit() is None  # the cheapest fits
    out = fb.propose(JobState([], 0, SPACE_SIZE), seed=0, step=0, n=1)
    assert isinstance(out, str), out
    assert "5 seeded random draws" in out and "not a count" in out and "exhausted" not in out


def test_no_mcu_arch_fits_fails_before_any_evaluation(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'x.db'}"
    res = runner.invoke(app, ["search", "--space", "mcu", "--dataset", "digits", "--sram-kb", "2", "--flash-kb", "16",
                              "--clock-mhz", "64", "--core", "cortex-m4f", "--budget", "2", "--json", "--quiet",
                              "--db", db_url])
    assert res.exit_code == 1, res.output
    out = json.loads(res.stdout)
    assert out["status"] == "failed" and out["n_proposed"] == 0
    assert "cheapest network of the mcu space" in out["stop_reason"]


class _Dry:
    """Proposes nothing new: the planner must notice and continue from the space's fallback."""

    name = "dry"

    def propose(self, request: ProposalRequest) -> ProposalBatch:
        return ProposalBatch(proposer=self.name, proposals=[])


def test_a_proposer_that_runs_dry_on_mcu_is_continued_by_sampling(db_url: str) -> None:
    from automcu.engine.planner import run_job
    from automcu.storage.repository import candidates_of, create_job, events_of

    registry.register("dry", _Dry, spaces={"mcu": _Dry})
    try:
        spec = JobSpec(dataset="digits", space="mcu", proposer="dry", budget=2, epochs=1, seed=4,
                       hardware={"sram_kb": 40, "flash_kb": 192, "clock_mhz": 100, "core": "cortex-m4f"})
        db = open_database(db_url)
        job = create_job(db, spec, spec.resolve_hardware())
        final = run_job(db, job.id)
    finally:
        registry.unregister("dry")
    assert final.status == "succeeded" and final.stop_reason == "budget of 2 evaluations spent"
    cands = candidates_of(db, job.id)
    assert [c.proposer for c in cands] == ["mcu-sample"] * 2 and all(c.status == "evaluated" for c in cands)
    dry = [e for e in events_of(db, job.id) if e.kind == "proposer_ran_dry"]
    assert len(dry) == 1 and dry[0].payload["space_size"] == SPACE_SIZE and "exhausted" not in dry[0].payload["reason"]


def _mcu_job(db_url: str) -> tuple[Any, str]:
    from automcu.storage.repository import create_job

    spec = JobSpec(dataset="digits", space="mcu", proposer="evolution", budget=4, epochs=1, seed=5, batch_size=2,
                   hardware={"sram_kb": 40, "flash_kb": 192, "clock_mhz": 100, "core": "cortex-m4f"})
    db = open_database(db_url)
    return db, create_job(db, spec, spec.resolve_hardware()).id


def test_an_interrupted_mcu_job_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    from automcu.engine.planner import Planner, run_job
    from automcu.storage.repository import candidates_of, get_job

    def evaluated(db: Any, job_id: str) -> list[tuple[str, float | None]]:
        done = sorted((c for c in candidates_of(db, job_id) if c.status == "evaluated"), key=lambda c: c.eval_order)
        return [(c.arch, c.val_acc) for c in done]

    db, whole = _mcu_job(f"sqlite:///{tmp_path / 'whole.db'}")
    run_job(db, whole)

    def stop_after_two(kind: str, data: dict[str, Any]) -> None:
        if kind == "evaluated" and data["n_evaluated"] == 2:
            raise KeyboardInterrupt

    db2, cut = _mcu_job(f"sqlite:///{tmp_path / 'cut.db'}")
    with pytest.raises(KeyboardInterrupt):
        Planner(db2, cut, progress=stop_after_two).run()
    assert get_job(db2, cut).stop_reason == "interrupted" and len(evaluated(db2, cut)) == 2
    assert run_job(db2, cut, allow_failed=True).status == "succeeded"
    assert get_job(db2, cut).proposer_used == "evolution"
    assert evaluated(db2, cut) == evaluated(db, whole) and len(evaluated(db, whole)) == 4


def test_batch_files_take_the_space(tmp_path: Path) -> None:
    from automcu.cli.batch_cmd import load_batch
    from automcu.cli.common import UserError

    good = tmp_path / "ok.yaml"
    good.write_text("- {dataset: digits, space: mcu, proposer: random, budget: 2}\n- {dataset: cifar10, budget: 2}\n")
    assert [s.space for s in load_batch(good)] == ["mcu", "nb201"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {dataset: digits, space: mcu}\n- {dataset: cifar100, space: mcu}\n")
    with pytest.raises(UserError, match=r"search #2.*lookup"):
        load_batch(bad)


def test_mcu_proposers_never_propose_a_function_already_seen() -> None:
    """An op changed on a dead edge (after a ``none``) leaves the network's function as it was: a trained search
    would pay again for the same network. Neither proposer offers an arch whose function the job has seen, nor
    two of one function in a batch."""
    from agents.proposers.mcu import MCUEvolutionProposer, MCURandomProposer
    from agents.proposers.mcu_local import MCULocalSearchProposer
    from agents.proposers.mcu_predictor import MCUPredictorProposer

    # node 1 is dead (none from the input), so edges 1->2 and 1->3 are dead: their ops change nothing
    parent = MCUArch.from_string("C12-N1-S1:|none~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|avg_pool_3x3~0|"
                                 "nor_conv_1x1~1|avg_pool_3x3~2|")
    dead_twin = MCUArch.from_string("C12-N1-S1:|none~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|"
                                    "nor_conv_1x1~1|avg_pool_3x3~2|")
    assert parent.canonical_key() == dead_twin.canonical_key()
    evaluated = [EvaluatedCandidate(arch=parent.to_string(), val_acc=90.0)]
    for proposer in (MCUEvolutionProposer(population=4, sample=1), MCURandomProposer(),
                     MCULocalSearchProposer(n_initial=1), MCUPredictorProposer(n_initial=2)):
        keys: list[str] = []
        for step in range(40):
            req = ProposalRequest(dataset="fashion-mnist", n=3, seed=0, step=step, evaluated=evaluated,
                                  seen=[parent.to_string()])
            keys += [MCUArch.from_string(p.arch).canonical_key() for p in proposer.propose(req).proposals]
        assert parent.canonical_key() not in keys, proposer.name
        for step_keys in (keys[i:i + 3] for i in range(0, len(keys), 3)):
            assert len(set(step_keys)) == len(step_keys), proposer.name


def test_a_trained_job_stores_no_second_arch_of_one_function(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever proposes it (an LLM, a user's proposer), an arch computing the function of one already stored is
    recorded as a duplicate proposal, not trained again."""
    from automcu.engine.planner import run_job
    from automcu.storage.repository import candidates_of, create_job, events_of

    twins = ["C8-N1-S2:|none~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|avg_pool_3x3~0|nor_conv_1x1~1|avg_pool_3x3~2|",
             "C8-N1-S2:|none~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|avg_pool_3x3~2|",
             "C8-N1-S2:|nor_conv_1x1~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|avg_pool_3x3~0|nor_conv_1x1~1|"
             "avg_pool_3x3~2|"]

    class Twins:
        name = "twins"

        def propose(self, request: ProposalRequest) -> ProposalBatch:
            from agents.messages import Proposal

            return ProposalBatch(proposer=self.name, proposals=[Proposal(arch=a, reason="twin") for a in twins])

    db = open_database(f"sqlite:///{tmp_path / 't.db'}")
    spec = JobSpec(dataset="digits", space="mcu", proposer="random", budget=2, epochs=1, seed=0)
    job = create_job(db, spec, spec.resolve_hardware())
    from automcu.engine.planner import Planner

    monkeypatch.setattr(Planner, "_proposer", lambda self, job: Twins())
    assert run_job(db, job.id).status == "succeeded"
    stored = [c.arch for c in candidates_of(db, job.id)]
    assert stored == [twins[0], twins[2]]
    dups = [e.payload for e in events_of(db, job.id) if e.kind == "duplicate_proposal"]
    assert dups and dups[0]["arch"] == twins[1]
    assert dups[0]["function"] == MCUArch.from_string(twins[0]).canonical_key()
