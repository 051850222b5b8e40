"""Inventory from nvidia-smi -q -x XML (the real H200 fixture, and multi-GPU/multi-host files built from it)."""

import copy
import json
import xml.etree.ElementTree as ET

import pytest

from agent import inventory
from agent.errors import UsageError
from agent.models import model_slug
from tests.agent.helpers import H200_XML, ROOT


def test_fixture_xml_maps_to_registry_ids(cli):
    rc, out, err = cli("inventory", "--from-xml", H200_XML, "--json")
    assert rc == 0, err
    (gpu,) = json.loads(out)
    assert gpu["serial"] == "1653924010417"
    assert gpu["chip"] == "nvidia:1653924010417"
    assert gpu["uuid"] == "GPU-7a41d2e9-03c8-6b1f-a9d4-52e0c8b3f611"
    assert gpu["board_part_number"] == "692-2G520-0282-001"
    assert gpu["power_limit_w"] == 700.0
    assert gpu["name"] == "NVIDIA H200"
    assert gpu["model"] == "nvidia-h200-sxm-141gb"
    assert gpu["driver_version"] == "580.159.04"
    assert err == ""


def test_table_output_is_the_readme_example(cli):
    """README, "The agent": plain columns, byte for byte as the example shows them (the command printed a boxed
    rich table under a title the example does not have)."""
    readme = (ROOT / "README.md").read_text().splitlines()
    start = readme.index("$ .venv/bin/chipreg inventory --from-xml tests/fixtures/nvidia/h200-nvidia-smi-q.xml") + 1
    end = next(i for i in range(start, len(readme)) if readme[i].startswith("$ "))
    rc, out, _ = cli("inventory", "--from-xml", H200_XML)
    assert rc == 0
    assert out == "".join(f"{line}\n" for line in readme[start:end])


def test_table_columns_line_up_and_say_what_is_missing(cli, tmp_path):
    """Each column as wide as its widest cell, two spaces apart; a chip with no serial or an unknown product says so
    in words (the table's colour markup is gone with the box), and a control character read from the file prints as
    "?" rather than breaking its row."""
    path = _host_xml(
        tmp_path,
        "host.xml",
        [("N/A", "GPU-1", "NVIDIA H200"), ("1324520001236", "GPU-bbbbbbbb-2", "NVIDIA RTX\nImaginary\t9000")],
    )
    rc, out, _ = cli("inventory", "--from-xml", path)
    assert rc == 0
    header, first, second = out.splitlines()
    assert header.split() == ["source", "#", "product", "chip", "model", "uuid", "board", "part", "power", "limit"]
    assert first.split()[4:6] == ["none", "nvidia-h200-sxm-141gb"]
    assert second.split()[2:7] == ["NVIDIA", "RTX?Imaginary?9000", "nvidia:1324520001236", "unknown", "GPU-bbbbbbbb-2"]
    columns = [header.index(name) for name in ("#", "product", "chip", "model", "uuid", "board part", "power limit")]
    for line in (first, second):
        assert all(line[c - 2 : c] == "  " and line[c] != " " for c in columns), line
        assert line == line.rstrip()


def _host_xml(tmp_path, name, gpus):
    """A copy of the fixture with one <gpu> per (serial, uuid, product name)."""
    tree = ET.parse(H200_XML)  # noqa: S314 - the repository's own fixture
    root = tree.getroot()
    template = root.find("gpu")
    root.remove(template)
    for i, (serial, uuid, product) in enumerate(gpus):
        gpu = copy.deepcopy(template)
        gpu.set("id", f"00000000:{i + 1:02X}:00.0")
        gpu.find("serial").text = serial
        gpu.find("uuid").text = uuid
        gpu.find("product_name").text = product
        root.append(gpu)
    root.find("attached_gpus").text = str(len(gpus))
    path = tmp_path / name
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return path


def test_multi_gpu_multi_host(cli, tmp_path):
    a = _host_xml(
        tmp_path,
        "host-a.xml",
        [(f"165392401{i:04d}", f"GPU-aaaaaaaa-0000-0000-0000-00000000000{i}", "NVIDIA H200") for i in range(4)],
    )
    b = _host_xml(
        tmp_path,
        "host-b.xml",
        [
            ("1324520001234", "GPU-bbbbbbbb-0000-0000-0000-000000000001", "NVIDIA H100 80GB HBM3"),
            ("1324520001235", "GPU-bbbbbbbb-0000-0000-0000-000000000002", "NVIDIA A100-SXM4-80GB"),
            ("1324520001236", "GPU-bbbbbbbb-0000-0000-0000-000000000003", "NVIDIA RTX Imaginary 9000"),
            ("N/A", "GPU-bbbbbbbb-0000-0000-0000-000000000004", "NVIDIA H200"),
        ],
    )
    rc, out, err = cli("inventory", "--from-xml", a, b, "--json")
    assert rc == 0
    gpus = json.loads(out)
    assert len(gpus) == 8
    assert [g["chip"] for g in gpus[:4]] == [f"nvidia:165392401{i:04d}" for i in range(4)]
    assert {g["source"] for g in gpus} == {str(a), str(b)}
    models = [g["model"] for g in gpus[4:]]
    assert models == ["nvidia-h100-sxm5-80gb", "nvidia-a100-sxm4-80gb", None, "nvidia-h200-sxm-141gb"]
    assert gpus[7]["serial"] is None and gpus[7]["chip"] is None
    assert "unknown product 'NVIDIA RTX Imaginary 9000'" in err
    assert "no serial number" in err


def test_duplicate_chip_across_hosts_is_refused(tmp_path):
    a = _host_xml(tmp_path, "a.xml", [("1653924010417", "GPU-1", "NVIDIA H200")])
    b = _host_xml(tmp_path, "b.xml", [("1653924010417", "GPU-2", "NVIDIA H200")])
    gpus = inventory.collect([str(a), str(b)])
    with pytest.raises(UsageError, match="appears twice"):
        inventory.chip_entries(gpus)


def test_serial_is_normalised(tmp_path):
    a = _host_xml(tmp_path, "a.xml", [(" ab-12c ", "GPU-1", "NVIDIA H200")])
    (gpu,) = inventory.collect([str(a)])
    assert gpu.chip == "nvidia:AB-12C"


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "not valid XML"),  # truncated fixture
        (b"", "not valid XML"),
        (b"<html><body>hello</body></html>", "not `nvidia-smi -q -x` output"),
        (b"<nvidia_smi_log><driver_version>1</driver_version></nvidia_smi_log>", "no <gpu> element"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><nvidia_smi_log>&a;</nvidia_smi_log>',
            "entity declarations",
        ),
    ],
)
def test_corrupt_xml_exits_2_without_traceback(cli, tmp_path, content, message):
    path = tmp_path / "bad.xml"
    path.write_bytes(H200_XML.read_bytes()[:5000] if content is None else content)
    rc, out, err = cli("inventory", "--from-xml", path)
    assert rc == 2
    assert message in err
    assert str(path) in err
    assert "Traceback" not in err and out == ""
    assert len(err.strip().splitlines()) == 1


def test_missing_xml_file(cli, tmp_path):
    rc, _, err = cli("inventory", "--from-xml", tmp_path / "nope.xml")
    assert rc == 2 and "cannot read" in err


def test_unsupported_manufacturer(cli):
    rc, _, err = cli("inventory", "--from-xml", H200_XML, "--manufacturer", "amd")
    assert rc == 2 and "not supported" in err


@pytest.mark.parametrize(
    "name, slug",
    [
        ("NVIDIA H200", "nvidia-h200-sxm-141gb"),
        ("NVIDIA H100 80GB HBM3", "nvidia-h100-sxm5-80gb"),
        ("NVIDIA H100 PCIe", "nvidia-h100-pcie-80gb"),
        ("NVIDIA A100-SXM4-80GB", "nvidia-a100-sxm4-80gb"),
        ("NVIDIA B200", "nvidia-b200-sxm"),
        ("NVIDIA H200 NVL", None),
        ("NVIDIA GeForce RTX 4090", None),
        (None, None),
    ],
)
def test_model_slugs(name, slug):
    assert model_slug(name) == slug


def test_config_models_table(cli, tmp_path):
    a = _host_xml(tmp_path, "a.xml", [("1653924010417", "GPU-1", "NVIDIA H200 NVL")])
    config = tmp_path / "agent.toml"
    config.write_text('[models]\n"NVIDIA H200 NVL" = "nvidia-h200-nvl"\n')
    rc, out, err = cli("inventory", "--config", config, "--from-xml", a, "--json")
    assert rc == 0, err
    assert json.loads(out)[0]["model"] == "nvidia-h200-nvl"
