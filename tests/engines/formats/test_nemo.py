"""NeMo archives: identified by their config member, every member scanned with its name."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from pytest_mlsupply.engines.scanner import scan_file
from pytest_mlsupply.engines.sniff import identify_bytes
from pytest_mlsupply.results import Severity
from tests.corpus import system_call
from tests.corpus.config_yaml import nemo_archive

CONFIG = """\
sample_rate: 16000
preprocessor:
  _target_: nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor
encoder:
  _target_: {target}
  feat_in: 64
"""
STOCK = CONFIG.format(target="nemo.collections.asr.modules.ConformerEncoder")


def _state_dict_checkpoint() -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save({"encoder.weight": torch.zeros(2, 2), "encoder.bias": torch.zeros(2)}, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("gzip", [False, True])
def test_a_nemo_archive_is_identified_by_its_config_member(gzip: bool) -> None:
    ident = identify_bytes(nemo_archive(STOCK, gzip=gzip), "model.bin")
    if gzip:
        assert ident.format == "gzip"
        assert "NeMo model archive" in ident.detail
    else:
        assert ident.format == "nemo"
        assert ident.extension_mismatch is not None  # .bin promises a torch checkpoint


def test_a_tar_without_the_config_member_is_a_plain_tar() -> None:
    assert identify_bytes(nemo_archive(STOCK), "x.tar").format == "nemo"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:") as archive:
        info = tarfile.TarInfo("./configs/model_config.yaml.bak")
        info.size = len(STOCK)
        archive.addfile(info, io.BytesIO(STOCK.encode()))
    assert identify_bytes(buffer.getvalue(), "x.tar").format == "tar"


@pytest.mark.needs("torch")
@pytest.mark.parametrize("gzip", [False, True])
def test_a_nemo_like_archive_with_real_weights_scans_clean(tmp_path: Path, gzip: bool) -> None:
    path = tmp_path / "asr.nemo"
    extra = {
        "./model_weights.ckpt": _state_dict_checkpoint(),
        "./tokenizer.model": b"\x0a\x05\x0a\x01a\x15\x00\x00\x00\x00",
        "./vocab.txt": b"a\nb\n!\n",
    }
    path.write_bytes(nemo_archive(STOCK, gzip=gzip, extra=extra))
    report = scan_file(path, "asr.nemo")
    assert [f.render() for f in report.findings if f.severity >= Severity.MEDIUM] == []
    assert report.errors == []
    assert "pytorch-zip" in report.formats.values()


def test_a_malicious_target_in_the_config_is_found_with_the_member_path(tmp_path: Path) -> None:
    path = tmp_path / "asr.nemo"
    path.write_bytes(nemo_archive(CONFIG.format(target="os.system")))
    [finding] = scan_file(path, "asr.nemo").findings
    assert finding.rule == "MLS-YAML-010"
    assert finding.location.member == "./model_config.yaml"
    assert finding.location.key_path == "encoder._target_"


def test_a_python_tag_in_a_gzipped_archive_is_found_with_the_member_path(tmp_path: Path) -> None:
    path = tmp_path / "asr.nemo"
    config = CONFIG.format(target="!!python/object/apply:os.system [id]")
    path.write_bytes(nemo_archive(config, gzip=True))
    findings = scan_file(path, "asr.nemo").findings
    tags = [f for f in findings if f.rule == "MLS-YAML-001"]
    assert tags
    assert tags[0].location.member == "<decompressed>/./model_config.yaml"


def test_a_pickle_payload_in_the_checkpoint_member_is_found(tmp_path: Path) -> None:
    path = tmp_path / "asr.nemo"
    canary = tmp_path / "canary"
    payload = system_call(canary)
    path.write_bytes(nemo_archive(STOCK, extra={"./model_weights.ckpt": payload}))
    findings = scan_file(path, "asr.nemo").findings
    blocking = [f for f in findings if f.severity >= Severity.HIGH]
    assert {f.location.member for f in blocking} == {"./model_weights.ckpt"}
    assert not canary.exists()


def test_a_zip_after_the_tar_is_still_an_appended_zip_but_a_zip_member_is_not() -> None:
    checkpoint = io.BytesIO()
    with zipfile.ZipFile(checkpoint, "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    member = nemo_archive(STOCK, extra={"./model_weights.ckpt": checkpoint.getvalue()})
    assert identify_bytes(member, "asr.nemo").appended_zip is None
    appended = identify_bytes(nemo_archive(STOCK) + checkpoint.getvalue(), "asr.nemo")
    assert appended.appended_zip == len(nemo_archive(STOCK))
