"""Proposers by name: the registry, a plug-in from an installed package's entry point, a search with it."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agents.proposers import registry
from automcu.cli.app import app
from automcu.core.config import Settings
from automcu.jobs.spec import JobSpec

PLUGIN = '''
from agents.messages import Proposal, ProposalBatch, ProposalRequest
from search_spaces.nb201.space import SPACE_SIZE, Arch


class CountingProposer:
    """Walks the space in code order: a proposer that lives outside the automcu packages."""

    name = "counting"

    def propose(self, request: ProposalRequest) -> ProposalBatch:
        seen = set(request.seen)
        out = []
        for code in range(SPACE_SIZE):
            arch = Arch.from_code(code).to_string()
            if arch not in seen:
                out.append(Proposal(arch=arch, reason=f"next in code order ({code})"))
                if len(out) == request.n:
                    break
        return ProposalBatch(proposer=self.name, proposals=out)
'''


@pytest.fixture
def installed_plugin(tmp_path: Path) -> Iterator[str]:
    """A package installed the way pip leaves it: a module plus a dist-info with an entry point."""
    (tmp_path / "my_counting_plugin.py").write_text(PLUGIN)
    info = tmp_path / "my_counting_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-counting-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[{registry.ENTRY_POINT_GROUP}]\ncounting = my_counting_plugin:CountingProposer\n")
    sys.path.insert(0, str(tmp_path))
    registry._ENTRY_POINTS_LOADED = False
    try:
        yield "counting"
    finally:
        sys.path.remove(str(tmp_path))
        registry.unregister("counting")
        registry._ENTRY_POINTS_LOADED = False
        sys.modules.pop("my_counting_plugin", None)


def test_builtin_names_and_auto_resolution() -> None:
    assert registry.names()[:4] == ["auto", "llm", "evolution", "random"]
    assert registry.resolve_name("auto", Settings()) == registry.OFFLINE_DEFAULT
    assert registry.resolve_name("auto", Settings(llm_base_url="http://127.0.0.1:9/v1")) == "llm"
    assert registry.make_proposer("local", Settings()).name == "local"


def test_unknown_name_lists_the_registry() -> None:
    with pytest.raises(ValueError) as info:
        registry.make_proposer("genius", Settings())
    for name in registry.names():
        assert name in str(info.value)


def test_bad_registration_is_refused() -> None:
    for bad in ("", "auto", "a b", "x;y"):
        with pytest.raises(ValueError):
            registry.register(bad, "x:y")


def test_plugin_from_an_installed_package_runs_a_search(installed_plugin: str, db_url: str) -> None:
    assert installed_plugin in registry.names()
    assert JobSpec(dataset="cifar10", proposer=installed_plugin).proposer == installed_plugin
    result = CliRunner().invoke(app, ["search", "--json", "--quiet", "--dataset", "cifar10", "--budget", "5",
                                      "--proposer", installed_plugin, "--db", db_url])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["status"] == "succeeded" and out["n_evaluated"] == 5


def test_register_call_makes_a_name_selectable(tmp_path: Path) -> None:
    registry.register("fixed_random", lambda settings: __import__(
        "agents.proposers.random_search", fromlist=["RandomProposer"]).RandomProposer())
    try:
        assert "fixed_random" in registry.choices_text()
        assert registry.make_proposer("fixed_random", Settings()).name == "random"
    finally:
        registry.unregister("fixed_random")
    with pytest.raises(ValueError):
        JobSpec(dataset="cifar10", proposer="fixed_random")
