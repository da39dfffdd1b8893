"""The AWS Pricing API: where it answers and how its price list is read.

The GPU catalog (on-demand $/h) and the EBS prices ($/GB-month) both read it.
"""

from __future__ import annotations

from typing import Any

from tui.services.cloud.aws import Aws

# The Pricing API's endpoints exist only in us-east-1, eu-central-1 and ap-south-1; all list every region.
PRICING_REGION = "us-east-1"
PRICING_PERMISSION = "pricing:GetProducts"


def price_list(aws: Aws, terms: list[dict[str, str]]) -> list[Any]:
    """Every EC2 price list item matching ``terms`` (TERM_MATCH filters), all pages; botocore's
    errors pass through."""
    pages = aws.client("pricing", PRICING_REGION).get_paginator("get_products")
    return [
        item
        for page in pages.paginate(ServiceCode="AmazonEC2", Filters=terms)
        for item in page.get("PriceList", [])
    ]
