"""``-p no:<part>`` cannot switch off one part of the plugin silently (only ``-p no:mlsupply``
turns it off, as a whole): a blocked part would be a gate that checks nothing, or marked models
missing from the BOM and the summary."""

from __future__ import annotations

import pytest

from pytest_mlsupply.plugin.hooks import PART_NAMES
from pytest_mlsupply.plugin.model_artifact import MARKER_PLUGIN_NAME
from pytest_mlsupply.plugin.prefetch import NAME as PREFETCH_NAME
from pytest_mlsupply.plugin.redaction import PLUGIN_NAME as REDACTION_NAME
from pytest_mlsupply.plugin.session import PLUGIN_NAME
from tests.conftest import Project
from tests.plugin.test_marker import tamper


def test_the_entry_point_names_every_part_the_plugin_registers() -> None:
    assert set(PART_NAMES) == {
        PLUGIN_NAME,
        MARKER_PLUGIN_NAME,
        MARKER_PLUGIN_NAME + "-xdist",
        PREFETCH_NAME,
        REDACTION_NAME,
    }


def test_a_gate_whose_session_plugin_is_blocked_is_a_usage_error_not_a_green_run(
    pytester: pytest.Pytester, project: Project
) -> None:
    tamper(project.model_dir / "model.safetensors")
    pytester.makeini("[pytest]\naddopts = -p no:mlsupply-session\n")
    result = pytester.runpytest_subprocess("--mlsupply", "-p", "no:randomly")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*-p no:mlsupply-session would disable part of the plugin*"])


@pytest.mark.parametrize("part", ["mlsupply-marker", "mlsupply-marker-xdist", "mlsupply-prefetch"])
def test_blocking_any_other_part_is_a_usage_error_too(
    pytester: pytest.Pytester, project: Project, part: str
) -> None:
    pytester.makepyfile(
        test_a="""
        import pytest

        @pytest.mark.model_artifact(path="models/tiny")
        def test_m():
            open("body-ran", "w").close()
        """
    )
    result = pytester.runpytest_subprocess("-p", f"no:{part}", "-p", "no:randomly", "test_a.py")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*-p no:{part} would disable part of the plugin*-p no:mlsupply*"])
    assert not (pytester.path / "body-ran").exists()
