"""GPU types from moto's DescribeInstanceTypes; prices from an injected Pricing API, the cache, the CSV."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from tui.services.cloud import catalog, regions
from tui.services.cloud.aws import Aws
from tui.services.cloud.bundled_catalog import bundled_prices
from tui.services.cloud.catalog import PriceBook, gpu_types
from tui.services.errors import D2lError

CSV_PATH = Path(__file__).resolve().parents[1] / "tui" / "data" / "aws-gpu-catalog.csv"


def _csv_rows(region: str) -> list[dict[str, str]]:
    with open(CSV_PATH, encoding="utf-8") as f:
        return [row for row in csv.DictReader(f) if row["region"] == region]


def _price_item(instance_type: str, region: str, usd: str, market: str = "OnDemand") -> str:
    """One PriceList entry as GetProducts returns it: a JSON document in a string."""
    sku = f"SKU-{instance_type}-{market}".replace(".", "-").upper()
    return json.dumps(
        {
            "product": {
                "productFamily": "Compute Instance",
                "attributes": {
                    "instanceType": instance_type,
                    "instanceFamily": "GPU instance",
                    "regionCode": region,
                    "operatingSystem": "Linux",
                    "tenancy": "Shared",
                    "preInstalledSw": "NA",
                    "capacitystatus": "Used",
                    "licenseModel": "No License required",
                    "marketoption": market,
                    "operation": "RunInstances",
                    "usagetype": f"BoxUsage:{instance_type}",
                    "servicecode": "AmazonEC2",
                },
                "sku": sku,
            },
            "serviceCode": "AmazonEC2",
            "terms": {
                "OnDemand": {
                    f"{sku}.JRTCKXETXF": {
                        "priceDimensions": {
                            f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                                "unit": "Hrs",
                                "endRange": "Inf",
                                "description": f"${usd} per On Demand Linux {instance_type} Instance Hour",
                                "appliesTo": [],
                                "rateCode": f"{sku}.JRTCKXETXF.6YS6EN2CT7",
                                "beginRange": "0",
                                "pricePerUnit": {"USD": usd},
                            }
                        },
                        "sku": sku,
                        "effectiveDate": "2026-06-01T00:00:00Z",
                        "offerTermCode": "JRTCKXETXF",
                        "termAttributes": {},
                    }
                }
            },
            "version": "20260601000000",
            "publicationDate": "2026-06-01T00:00:00Z",
        }
    )


class PricingApi:
    """Answers pricing.GetProducts through botocore hooks (moto doesn't implement it)."""

    def __init__(self, pages: list[list[str]] | None = None, error: str = "") -> None:
        self.pages = pages or []
        self.error = error
        self.calls: list[dict[str, Any]] = []

    def install(self, session: Any) -> None:
        session.events.register("before-parameter-build.pricing.GetProducts", self._record)
        session.events.register("before-call.pricing.GetProducts", self._answer)

    def _record(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["test_params"] = dict(params)
        self.calls.append(dict(params))

    def _answer(self, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        if self.error:
            message = "User is not authorized to perform: pricing:GetProducts"
            return _reply(400, {"Error": {"Code": self.error, "Message": message}})
        index = int(context["test_params"].get("NextToken") or 0)
        parsed: dict[str, Any] = {"FormatVersion": "aws_v1", "PriceList": self.pages[index]}
        if index + 1 < len(self.pages):
            parsed["NextToken"] = str(index + 1)
        return _reply(200, parsed)


def _reply(status: int, parsed: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
    """What a before-call hook returns in place of a request: the response and its parsed body."""
    meta = {"RequestId": "req-1", "HTTPStatusCode": status, "HTTPHeaders": {}}
    return AWSResponse("https://example.amazonaws.com/", status, HTTPHeaders(), None), {
        **parsed,
        "ResponseMetadata": meta,
    }


def _two_pages(region: str) -> list[list[str]]:
    return [
        [
            _price_item("g4dn.xlarge", region, "0.6110000000"),
            _price_item("g5.xlarge", region, "1.1110000000"),
        ],
        [
            _price_item("p5.48xlarge", region, "61.1100000000"),
            # A Capacity Block row for the same type must not stand in for its on-demand price.
            _price_item("p5.48xlarge", region, "31.4640000000", market="CapacityBlock"),
        ],
    ]


def test_bundled_prices_match_the_csv() -> None:
    rows = _csv_rows("us-east-1")

    prices, source = bundled_prices("us-east-1")

    assert source.kind == "bundled" and source.as_of == rows[0]["source_date"]
    assert source.as_of in source.label
    assert len(prices) == len(rows)
    for row in rows:
        ondemand = float(row["ondemand_usd_per_hour"]) if row["ondemand_usd_per_hour"] else None
        spot = float(row["spot_usd_per_hour"]) if row["spot_usd_per_hour"] else None
        assert prices[row["instance_type"]] == (ondemand, spot)
    # p5e is sold as Capacity Blocks only: its empty on-demand fields stay unknown, not 0.
    p5e = bundled_prices("eu-west-2")[0]["p5e.48xlarge"]
    assert p5e == (None, None)
    assert bundled_prices("us-west-2")[0]["p5e.48xlarge"][0] is None
    nowhere, nowhere_source = bundled_prices("xx-nowhere-1")
    assert nowhere == {} and nowhere_source.as_of == source.as_of


def test_pricebook_fetches_then_reuses_its_cache(aws: Aws, tmp_path: Path) -> None:
    api = PricingApi(_two_pages("eu-west-1"))
    hooked = Aws(region="us-east-1", customize=api.install)
    bundled, _ = bundled_prices("eu-west-1")

    prices, source = PriceBook(hooked, tmp_path).prices("eu-west-1")

    assert source.kind == "pricing-api"
    assert prices["g4dn.xlarge"] == (0.611, bundled["g4dn.xlarge"][1])  # spot still from the bundle
    assert prices["p5.48xlarge"][0] == 61.11
    assert bundled["g5.2xlarge"][0] is not None
    assert prices["g5.2xlarge"][0] is None  # the API didn't list it: no bundled price mixed in
    assert len(api.calls) == 2, "both pages read"
    filters = {f["Field"]: f["Value"] for f in api.calls[0]["Filters"]}
    assert api.calls[0]["ServiceCode"] == "AmazonEC2"
    assert filters["regionCode"] == "eu-west-1" and filters["operatingSystem"] == "Linux"
    assert filters["tenancy"] == "Shared" and filters["capacitystatus"] == "Used"
    assert filters["instanceFamily"] == "GPU instance" and filters["preInstalledSw"] == "NA"
    cached = json.loads((tmp_path / "prices-eu-west-1.json").read_text())
    assert cached["ondemand_usd_per_hour"]["g5.xlarge"] == 1.111
    assert datetime.fromisoformat(cached["fetched_at"]) > datetime.now(timezone.utc) - timedelta(minutes=1)
    assert [p.name for p in tmp_path.iterdir()] == ["prices-eu-west-1.json"], "no temp file left behind"

    again, again_source = PriceBook(hooked, tmp_path).prices("eu-west-1")

    assert len(api.calls) == 2, "a fresh cache is used without calling the API"
    assert again_source.kind == "cache" and again_source.as_of in again_source.label
    assert again == prices


def _age_cache(path: Path, days: float) -> None:
    doc = json.loads(path.read_text())
    doc["fetched_at"] = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat()
    path.write_text(json.dumps(doc))


def test_stale_cache_stands_in_when_the_api_fails_and_says_how_old(aws: Aws, tmp_path: Path) -> None:
    PriceBook(
        Aws(region="us-east-1", customize=PricingApi(_two_pages("us-east-1")).install), tmp_path
    ).prices("us-east-1")
    _age_cache(tmp_path / "prices-us-east-1.json", days=10)
    denied = PricingApi(error="AccessDeniedException")

    prices, source = PriceBook(Aws(region="us-east-1", customize=denied.install), tmp_path).prices(
        "us-east-1"
    )

    assert len(denied.calls) == 1, "a stale cache is refreshed first"
    assert source.kind == "cache"
    assert "10 days old" in source.label
    assert "pricing:GetProducts" in source.detail
    assert prices["g4dn.xlarge"][0] == 0.611


def test_stale_cache_is_refreshed_when_the_api_answers(aws: Aws, tmp_path: Path) -> None:
    api = PricingApi(_two_pages("us-east-1"))
    book = PriceBook(Aws(region="us-east-1", customize=api.install), tmp_path, max_age_days=7)
    book.prices("us-east-1")
    _age_cache(tmp_path / "prices-us-east-1.json", days=8)

    _, source = book.prices("us-east-1")

    assert source.kind == "pricing-api"
    assert len(api.calls) == 4
    fetched = json.loads((tmp_path / "prices-us-east-1.json").read_text())["fetched_at"]
    assert datetime.fromisoformat(fetched) > datetime.now(timezone.utc) - timedelta(minutes=1)


def test_moto_without_a_pricing_api_falls_back_to_the_bundle(aws: Aws, tmp_path: Path) -> None:
    # moto answers GetProducts with 404 "Not yet implemented": the real failure, nothing injected.
    prices, source = PriceBook(aws, tmp_path / "cache").prices("us-east-1")

    bundled, bundled_source = bundled_prices("us-east-1")
    assert source.kind == "bundled" and source.as_of == bundled_source.as_of
    assert source.detail.startswith("no live prices, because the Pricing API")
    assert prices == bundled
    assert not (tmp_path / "cache" / "prices-us-east-1.json").exists()


def test_a_failed_api_is_not_asked_again_at_once(aws: Aws, tmp_path: Path) -> None:
    denied = PricingApi(error="AccessDeniedException")
    book = PriceBook(Aws(region="us-east-1", customize=denied.install), tmp_path)

    first = book.prices("us-east-1")
    second = book.prices("us-east-1")

    assert len(denied.calls) == 1
    assert first == second and first[1].kind == "bundled"
    assert "pricing:GetProducts" in first[1].detail


def test_offline_never_calls_the_api(aws: Aws, tmp_path: Path) -> None:
    api = PricingApi(_two_pages("us-east-1"))

    prices, source = PriceBook(Aws(region="us-east-1", customize=api.install), tmp_path, offline=True).prices(
        "us-east-1"
    )

    assert api.calls == []
    assert source == bundled_prices("us-east-1")[1]
    assert prices["g4dn.xlarge"] == bundled_prices("us-east-1")[0]["g4dn.xlarge"]


def test_gpu_types_carry_moto_specs_prices_and_notes(aws: Aws, tmp_path: Path) -> None:
    api = PricingApi(_two_pages("us-east-1"))
    book = PriceBook(Aws(region="us-east-1", customize=api.install), tmp_path)

    found = gpu_types(aws, "us-east-1", book)

    by_name = {t.instance_type: t for t in found.types}
    assert set(by_name) == set(regions.gpu_offerings(aws, "us-east-1"))
    assert found.region == "us-east-1" and found.prices.kind == "pricing-api"
    t4 = by_name["g4dn.xlarge"]
    assert (t4.gpu_name, t4.gpu_count, t4.gpu_memory_mib, t4.vcpus) == ("T4", 1, 16384, 4)
    assert (t4.memory_gib, t4.arch, t4.bucket) == (16.0, "x86_64", "G")
    assert t4.ondemand_usd_per_hour == 0.611 and "cheapest" in t4.note and t4.current_generation
    h100 = by_name["p5.48xlarge"]
    assert (h100.gpu_name, h100.gpu_count, h100.gpu_memory_mib, h100.vcpus) == ("H100", 8, 81920, 192)
    assert h100.total_gpu_memory_gib == 640 and h100.bucket == "P"
    graviton = by_name["g5g.xlarge"]
    assert (graviton.gpu_name, graviton.arch, graviton.vcpus) == ("T4g", "arm64", 4)
    assert not by_name["p3dn.24xlarge"].current_generation
    # The same facts as moto's own answer, not a copy of ours.
    raw = aws.client("ec2").describe_instance_types(InstanceTypes=["g6e.xlarge"])["InstanceTypes"][0]
    assert by_name["g6e.xlarge"].gpu_memory_mib == raw["GpuInfo"]["Gpus"][0]["MemoryInfo"]["SizeInMiB"]
    # Cheapest first; types without an on-demand price (not listed by the API) last.
    priced = [t.ondemand_usd_per_hour for t in found.types if t.ondemand_usd_per_hour is not None]
    assert [t.instance_type for t in found.types[:3]] == ["g4dn.xlarge", "g5.xlarge", "p5.48xlarge"]
    assert priced == sorted(priced) and found.types[3].ondemand_usd_per_hour is None


def test_types_without_gpu_info_take_the_bundled_specs(aws: Aws, tmp_path: Path) -> None:
    def strip_gpu_info(parsed: dict[str, Any], **_: Any) -> None:
        for info in parsed.get("InstanceTypes", []):
            if info["InstanceType"] == "g4dn.xlarge":
                info.pop("GpuInfo", None)

    hooked = Aws(
        region="us-east-1",
        customize=lambda s: s.events.register("after-call.ec2.DescribeInstanceTypes", strip_gpu_info),
    )

    found = gpu_types(hooked, "us-east-1", PriceBook(hooked, tmp_path, offline=True))

    t4 = next(t for t in found.types if t.instance_type == "g4dn.xlarge")
    row = next(r for r in _csv_rows("us-east-1") if r["instance_type"] == "g4dn.xlarge")
    assert (t4.gpu_name, t4.gpu_count, t4.gpu_memory_mib) == (row["gpu_name"], 1, int(row["gpu_memory_mib"]))
    assert t4.ondemand_usd_per_hour == float(row["ondemand_usd_per_hour"])
    assert found.prices.kind == "bundled"


def test_gpu_types_denied_is_a_sentence(aws: Aws, tmp_path: Path) -> None:
    def deny(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        message = "You are not authorized to perform this operation."
        return _reply(403, {"Error": {"Code": "UnauthorizedOperation", "Message": message}})

    hooked = Aws(
        region="us-east-1",
        customize=lambda s: s.events.register("before-call.ec2.DescribeInstanceTypeOfferings", deny),
    )

    with pytest.raises(D2lError) as caught:
        gpu_types(hooked, "us-east-1", PriceBook(hooked, tmp_path, offline=True))
    assert "DescribeInstanceTypeOfferings" in caught.value.what and caught.value.next_step


def test_gpu_types_through_a_moto_server(moto_endpoint: str, tmp_path: Path) -> None:
    aws = Aws(region="us-east-1")

    found = gpu_types(aws, "af-south-1", PriceBook(aws, tmp_path, offline=True))

    assert found.types and all(t.family == "g4dn" for t in found.types)
    assert all(t.gpu_name == "T4" and t.ondemand_usd_per_hour is not None for t in found.types)
    assert found.prices.kind == "bundled"


def test_family_notes_cover_every_offered_family() -> None:
    assert set(catalog.FAMILY_NOTES) == set(regions.GPU_FAMILIES)
    assert all(note for _current, note in catalog.FAMILY_NOTES.values())
    assert [f for f, (current, _) in catalog.FAMILY_NOTES.items() if not current] == ["p3", "p3dn"]
