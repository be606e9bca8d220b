"""Which agent takes a request: the deployment's router, by one of three methods.

- `likelihood`: the router model scores how likely the request is after each agent's description,
  against no description (pointwise mutual information, as the chat router scores tools; the same
  code, `agent.runtime.router.Router`). Words the request shares with an agent's keywords add
  evidence, since a tiny model's likelihoods are noisy on short requests.
- `classifier`: the router model reads a prompt listing the agents and writes one name, under a
  grammar that allows only the agents' names (the seed's "light model classifies").
- `keywords`: the agent with the most keyword hits; none hit, the default agent.

With every method a request nothing points to goes to `router.default`, which may be `fallback` (the
fallback endpoint); with `router.escalate_below`, a likelihood score under it escalates too.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from edgeagent_cli.core.deploy.spec import ROUTER_METHODS, AgentSpec, Deployment

__all__ = ["ROUTER_METHODS", "DeploymentRouter", "Routed", "ESCALATE"]

ESCALATE = "fallback"  # the route to the deployment's fallback endpoint
KEYWORD_WEIGHT = 6.0  # one keyword hit, in nats of pmi: chosen by 5-fold cross-validation (benchmarks/route_methods.py)


@dataclass
class Routed:
    agent: str
    method: str
    scores: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    why: str = ""


def agent_prefix(agent: dict[str, Any]) -> str:
    return f"Agent {agent['name']}: {agent['description']}\nA user request for this agent:"


def keyword_hits(request: str, agent: AgentSpec) -> int:
    text = request.lower()
    return sum(1 for k in agent.keywords if re.search(rf"(?<![a-z0-9]){re.escape(k)}", text))


class DeploymentRouter:
    """Routes requests for one deployment; `scorer` is the router model's likelihood scorer (or None
    for keywords), `llm` its llama.cpp model for the classifier."""

    def __init__(self, dep: Deployment, scorer: Any = None, llm: Any = None) -> None:
        self.dep = dep
        self.method = dep.router.method
        self.scorer = scorer
        self.llm = llm
        self._grammar: Any = None

    def route(self, request: str) -> Routed:
        t0 = time.perf_counter()
        if self.method == "keywords" or (self.scorer is None and self.llm is None):
            routed = self._keywords(request)
        elif self.method == "classifier":
            routed = self._classify(request)
        else:
            routed = self._likelihood(request)
        routed.seconds = time.perf_counter() - t0
        return routed

    def _keywords(self, request: str) -> Routed:
        hits = {a.name: float(keyword_hits(request, a)) for a in self.dep.agents}
        best = max(hits, key=lambda k: hits[k])
        if hits[best] == 0:
            return Routed(self.dep.router.default, "keywords", hits, why="no keyword matched: the default agent")
        return Routed(best, "keywords", hits, why=f"{int(hits[best])} keyword(s) matched")

    def _likelihood(self, request: str) -> Routed:
        agents = [{"name": a.name, "description": a.summary()} for a in self.dep.agents]
        self.scorer.forget()  # from an empty cache, and left empty for the agent's answer
        pmi = self.scorer.scores_many([request], agents, agent_prefix)[0]
        self.scorer.forget()
        scores = {a.name: pmi[a.name] + KEYWORD_WEIGHT * keyword_hits(request, a) for a in self.dep.agents}
        best = max(scores, key=lambda k: scores[k])
        rounded = {k: round(v, 3) for k, v in scores.items()}
        floor = self.dep.router.escalate_below
        if floor is not None and scores[best] < floor:
            return Routed(
                ESCALATE, "likelihood", rounded, why=f"best score {scores[best]:.2f} < escalate_below {floor}"
            )
        return Routed(best, "likelihood", rounded, why="highest score")

    def _classify(self, request: str) -> Routed:
        import llama_cpp

        names = self.dep.agent_names()
        if self._grammar is None:
            alternatives = " | ".join('"' + n.replace('"', "") + '"' for n in names)
            self._grammar = llama_cpp.LlamaGrammar.from_string(f"root ::= {alternatives}", verbose=False)
        listing = "\n".join(f"- {a.name}: {a.summary()}" for a in self.dep.agents)
        prompt = (
            f"Route the user's request to the agent that should handle it.\nAgents:\n{listing}\n\n"
            f"Request: {request.strip()[:1000]}\nAgent:"
        )
        out = self.llm.create_completion(prompt, max_tokens=16, temperature=0.0, grammar=self._grammar)
        text = str(out["choices"][0]["text"]).strip()
        agent = text if text in names else self.dep.router.default
        return Routed(
            agent, "classifier", {n: float(n == agent) for n in names}, why=f"the router model wrote {text!r}"
        )
