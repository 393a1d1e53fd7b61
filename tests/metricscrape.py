"""A running node's ``/metrics``, read as Prometheus reads it (prometheus_client's parser)."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.nodeproc import NodeProcess


@dataclass(frozen=True)
class Scrape:
    """Every sample of one scrape."""

    samples: list[Sample]

    def names(self) -> set[str]:
        """Series names with at least one sample (``chatnet_x_total``, ``..._bucket``)."""
        return {s.name for s in self.samples}

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples of ``name`` whose labels include ``labels`` (0 if none)."""
        return sum(
            s.value for s in self.samples if s.name == name and labels.items() <= s.labels.items()
        )

    def has(self, name: str, **labels: str) -> bool:
        """True when a sample of ``name`` carries ``labels``."""
        return any(s.name == name and labels.items() <= s.labels.items() for s in self.samples)


def scrape(node: NodeProcess) -> Scrape:
    """GET the node's admin ``/metrics`` and parse it."""
    with urllib.request.urlopen(node.admin_url + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return Scrape([s for f in text_string_to_metric_families(text) for s in f.samples])
