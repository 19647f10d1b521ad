"""The research plugin: the search and research agents, and the research workflow's routes.

Unit tests run the agents through the real registry on scripted models and a fake knowledge
service (HashEmbedder similarity over a few passages); the integration tests at the end use the
real rag, embeddings (MiniLM) and faiss plugins and the embedded SmolLM2 model.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
from pygent_plugins.jobs import JobsPlugin
from pygent_plugins.research import ResearchPlugin
from pygent_plugins.research.research import fallback_plan, parse_plan, renumber
from pygent_sdk.guard import LoopGuard, guarded_reply
from pygent_sdk import ChatMessage, ChatOptions
from pygent_sdk.agents import AGENT_REGISTRY
from pygent_sdk.knowledge import KNOWLEDGE
from pygent_sdk.testing import PluginHarness, ScriptedChatModel

from .agent_kit import ScriptedProvider, stack
from .rag_kit import FakeKnowledge, FakeRag
from .http_kit import served

pytestmark = pytest.mark.anyio



def system(messages: Sequence[ChatMessage]) -> str:
    return messages[0].content if messages and messages[0].role == "system" else ""


def answering(plan: str = "1. How do plugins start?\n2. How are events delivered?\n3. What is a Config class?",
              report: str = "Plugins start in dependency order [1] and events reach subscribers [2].") -> ScriptedChatModel:
    """Plans ``plan``, answers each sub-question citing its first source, reports ``report``."""
    def reply(messages: Sequence[ChatMessage], options: ChatOptions) -> str:
        if "split a research question" in system(messages):
            return plan
        if "research report" in system(messages):
            return report
        return "From the sources: yes [1]."
    return ScriptedChatModel(reply, name="scripted")


def harness(model: ScriptedChatModel, *, jobs: bool = False) -> PluginHarness:
    FakeRag.knowledge = FakeKnowledge()
    plugins, config = stack(model, memory=False)
    plugins.update({"rag": FakeRag, "research": ResearchPlugin})
    if jobs:
        plugins["jobs"] = JobsPlugin
    return PluginHarness(plugins, config)


async def run(h: PluginHarness, kind: str, task: str, config: dict[str, Any] | None = None,
              model: str | None = None) -> tuple[Any, str]:
    registry = h.kernel.service(AGENT_REGISTRY)
    info = registry.build(kind, config=config, model=model)
    streamed: list[str] = []

    async def sink(text: str) -> None:
        streamed.append(text)

    return await registry.run(info.id, task, on_token=sink), "".join(streamed)


# --- search ------------------------------------------------------------------------------------


async def test_search_answers_from_the_sources_with_citations_streamed() -> None:
    model = answering()
    async with harness(model) as h:
        result, streamed = await run(h, "search", "In which order do plugins start?",
                                     {"k": 3, "mode": "vector", "collection": "docs"})
    assert result.success and result.status == "completed"
    assert result.output.startswith("From the sources: yes [1].")
    assert result.output.endswith("Sources:\n[1] docs/writing-plugins.md › Lifecycle")  # only [1] cited
    assert streamed == result.output  # answer and sources both streamed
    assert [s.kind for s in result.steps] == ["retrieval", "answer"]
    retrieval = result.steps[0]
    assert retrieval.hits >= 1 and retrieval.sources[0] == "docs/writing-plugins.md › Lifecycle"
    assert FakeRag.knowledge.calls == [("In which order do plugins start?", 3, "vector", "docs")]
    prompt = model.calls[0][0][-1].content
    assert "[1] docs/writing-plugins.md › Lifecycle\nPlugins start in dependency order" in prompt
    assert result.usage.completion_tokens > 0
    assert "\nQuestion:" in model.calls[0][1].stop  # a small model's next made-up turn is cut


async def test_search_says_honestly_when_nothing_is_relevant_without_asking_the_model() -> None:
    model = answering()
    async with harness(model) as h:
        result, streamed = await run(h, "search", "zebra quantum banana?")
    assert not result.success and "found nothing relevant to 'zebra quantum banana?'" in result.output
    assert model.calls == [] and streamed == result.output
    assert result.steps[0].kind == "retrieval" and result.steps[0].hits == 0
    assert "nothing relevant" in result.steps[0].summary()


async def test_search_cuts_a_looping_answer_at_its_first_repeated_sentence() -> None:
    model = ScriptedChatModel(["Plugins start in dependency order [1].\nPlugins start in dependency "
                               "order [1]. Plugins start in dependency order [1]. And so on."])
    async with harness(model) as h:
        result, streamed = await run(h, "search", "In which order do plugins start?")
    assert result.output.startswith("Plugins start in dependency order [1].\n\nSources:\n[1] ")
    assert streamed == result.output and result.success


def test_a_phrase_repeated_within_a_sentence_is_cut() -> None:
    guard, sent = LoopGuard(), []
    for word in re.findall(r"\S+\s*", "Jobs run a session, an evolution, an ingestion, an evolution, "
                                      "an evolution, an evolution, an evolution, an evolution,"):
        ready, stop = guard.feed(word)
        sent.append(ready)
        if stop:
            break
    assert stop and "".join(sent) + guard.rest() == "Jobs run a session, an evolution, an ingestion"
    calm = LoopGuard()
    text = "A plugin has a config, a context and a name. It starts after what it requires."
    assert calm.feed(text) == ("A plugin has a config, a context and a name.", False)
    assert calm.rest() == " It starts after what it requires."
    figures = LoopGuard()  # lines that differ in their figures are not repeats; citation numbers are
    reply = "Results:\n- nprobe 8 gives recall 0.81 [1]\n- nprobe 16 gives recall 0.91 [1]\n"
    assert figures.feed(reply)[1] is False
    cited = LoopGuard()
    assert cited.feed("[4] docs/jobs.md › Progress\n[5] docs/jobs.md › Progress\n") == (
        "[4] docs/jobs.md › Progress", False)  # a line ends a sentence unless the next one goes on in
    assert cited.feed("[6]") == ("", True)  # lower case (wrapped prose): the next piece tells
    wrapped = LoopGuard()
    assert wrapped.feed("Sessions are kept\nin the jobs ") == ("", False)
    assert wrapped.feed("directory. Each") == ("Sessions are kept\nin the jobs directory.", False)


def guard_through(reply: str, piece: str = r"\S+\s*") -> tuple[bool, str]:
    """Whether a LoopGuard fed ``reply`` in pieces (by default word by word) stopped it, and
    what it sent."""
    guard, sent, stop = LoopGuard(), [], False
    for part in re.findall(piece, reply):
        ready, stop = guard.feed(part)
        sent.append(ready)
        if stop:
            break
    return stop, "".join(sent) + guard.rest()


NEAR_REPEATS = [  # the audit's two loops, as SmolLM2 wrote them
    ("Keys: `n_evaluate` (1 to 10,000 characters, not only spaces), `max_nodes` (1 to 10,000 characters, not "
     "only spaces), `n_test` (1 to 10,000 characters, not only spaces), `n_test` (1 to 10,",
     "Keys: `n_evaluate` (1 to 10,000 characters, not only spaces)"),
    ("The reasoner's session is saved to the server's logs, so it can be accessed later [1]. A session is also "
     "saved to the server's logs, so it can be accessed later. Each tree is saved to the server's logs, so it "
     "can be accessed later [2]. The result is saved to the server's logs, so it can be accessed later.",
     "The reasoner's session is saved to the server's logs, so it can be accessed later [1]. A session is also "
     "saved to the server's logs, so it can be accessed later."),
    ("The reasoner's session is saved to the server's logs, so it can be accessed later. The\nresult of a "
     "session is saved to the logs, so it can be accessed later. The logs are\nsaved to the server's logs, so "
     "it can be accessed later.",  # SmolLM2's rag_only answer, wrapped like the docs it read
     "The reasoner's session is saved to the server's logs, so it can be accessed later. The\nresult of a "
     "session is saved to the logs, so it can be accessed later."),
]


@pytest.mark.parametrize(("reply", "kept"), NEAR_REPEATS)
def test_a_run_of_words_coming_back_a_third_time_is_cut(reply: str, kept: str) -> None:
    for piece in (r"\S+\s*", r"(?s).{1,3}"):  # streamed word by word, or a few characters at a time
        assert guard_through(reply, piece) == (True, kept)
    stop, sent = guard_through(reply, r"(?s).+")  # at once: the run of words is what repeats
    assert stop and sent.startswith(kept) and sent.count("saved to the server") < 3 and sent.count("n_test") == 0


def test_lists_and_tables_are_not_near_repeats() -> None:
    settings = ("Settings:\n- `k` sets how many passages are retrieved per query [1].\n- `min_similarity` is "
                "the lowest cosine similarity a passage needs [1].\n- `s3_rounds` caps the rounds of an s3 "
                "search.\n- `max_tokens` bounds the length of the answer [2].\n- `context_chars` limits the "
                "passages in one prompt [2].")
    table = "| nprobe | recall | ms per query |\n" + "".join(
        f"| nprobe {n} gives | recall 0.{r} at | {t} ms per query |\n"
        for n, r, t in [(1, 5, 1), (2, 6, 2), (4, 7, 3), (8, 81, 4), (16, 91, 5), (32, 95, 7)])
    for reply in (settings, table.strip()):
        for piece in (r"\S+\s*", r"(?s).{1,3}", r"(?s).+"):
            assert guard_through(reply, piece) == (False, reply)


async def test_guarded_reply_marks_a_reply_cut_at_the_token_limit() -> None:
    model = ScriptedChatModel(["Plugins start in dependency order, then " + " ".join(map(str, range(40)))],
                              loop=True)
    streamed: list[str] = []

    async def sink(piece: str) -> None:
        streamed.append(piece)
    marked, _ = await guarded_reply(model, [ChatMessage("user", "q")], ChatOptions(max_tokens=8),
                                    sink, cut_mark="…")
    plain, _ = await guarded_reply(model, [ChatMessage("user", "q")], ChatOptions(max_tokens=8))
    whole, _ = await guarded_reply(model, [ChatMessage("user", "q")], ChatOptions(max_tokens=200),
                                   cut_mark="…")
    assert marked == plain + "…" and "".join(streamed) == marked and not plain.endswith("…")
    assert not whole.endswith("…") and whole.endswith("39")


async def test_search_threshold_is_the_agents_setting() -> None:
    question = "Is every key checked?"
    async with harness(answering()) as h:
        best = (await FakeRag.knowledge.retrieve(question, k=1))[0].similarity
        assert 0.3 < best < 0.95
        strict, _ = await run(h, "search", question, {"min_similarity": best + 0.01})
        lenient, _ = await run(h, "search", question, {"min_similarity": best})
    assert not strict.success and "nothing relevant" in strict.output
    assert lenient.success and lenient.steps[0].hits >= 1


# --- research ----------------------------------------------------------------------------------


async def test_research_plans_searches_each_subquestion_and_reports_with_references() -> None:
    model = answering()
    async with harness(model) as h:
        result, streamed = await run(h, "research", "How do plugins start and how are events delivered?",
                                     {"max_subquestions": 3, "k": 2})
        steps = [e for e in h.events_on("agent.step")]
    assert result.success
    kinds = [s.kind for s in result.steps]
    assert kinds == ["plan", "subquestion", "subquestion", "subquestion", "report"]
    assert [e.kind for e in steps] == kinds  # an agent.step per sub-question
    plan, *subs, report = result.steps
    assert plan.subquestions == ("How do plugins start?", "How are events delivered?",
                                 "What is a Config class?") and not plan.fallback
    assert all(s.hits for s in subs)
    # sources numbered once for the whole report: each sub-question's [1] became its global number
    numbers = {r["source"] + " › " + r["heading"]: r["number"] for r in report.references}
    assert numbers["docs/writing-plugins.md › Lifecycle"] == 1
    assert subs[0].finding == "From the sources: yes [1]." and subs[0].references == (1,)
    assert subs[1].finding == f"From the sources: yes [{subs[1].references[0]}]."
    assert sorted(numbers.values()) == list(range(1, len(numbers) + 1)) or len(set(numbers.values())) == len(numbers)
    assert result.output.startswith("Plugins start in dependency order [1]")
    assert "\n\nReferences:\n[1] docs/writing-plugins.md › Lifecycle" in result.output
    assert streamed == result.output
    assert len(model.calls) == 5  # plan, three findings, report
    report_prompt = model.calls[-1][0][-1].content
    assert "Sub-question: How are events delivered?" in report_prompt


async def test_research_falls_back_when_the_plan_is_junk() -> None:
    async with harness(answering(plan="Sure! Here you go")) as h:
        result, _ = await run(h, "research", "How do plugins start and how are events delivered?")
    plan = result.steps[0]
    assert plan.fallback and "fallback" in plan.summary()
    assert plan.subquestions[0] == "How do plugins start and how are events delivered?"
    assert "how are events delivered?" in plan.subquestions
    assert result.success


async def test_research_tops_up_a_short_plan_with_the_question_and_its_clauses() -> None:
    async with harness(answering(plan="1. How are events delivered?")) as h:
        result, _ = await run(h, "research", "How do plugins start and how are events delivered?")
    plan = result.steps[0]
    assert not plan.fallback and plan.subquestions == (
        "How are events delivered?", "How do plugins start and how are events delivered?",
        "How do plugins start?")


async def test_research_respects_max_steps_and_says_so() -> None:
    model = answering()
    async with harness(model) as h:
        result, _ = await run(h, "research", "How do plugins start?", {"max_steps": 3, "max_subquestions": 3})
    assert len(model.calls) == 3  # plan, one finding, the report
    subs = [s for s in result.steps if s.kind == "subquestion"]
    assert len(subs) == 3 and subs[0].finding and not subs[1].finding and subs[1].hits  # passages kept
    report = result.steps[-1]
    assert "max_steps (3 model calls)" in report.stopped and "stopped early" in report.summary()
    assert result.success


async def test_research_respects_max_tokens() -> None:
    model = answering()
    async with harness(model) as h:
        result, _ = await run(h, "research", "How do plugins start?", {"max_tokens": 400, "max_subquestions": 3})
    used = result.usage.prompt_tokens + result.usage.completion_tokens
    assert used <= 400, used
    assert "max_tokens (400)" in result.steps[-1].stopped
    assert len(model.calls) < 5


async def test_research_is_honest_when_nothing_is_found() -> None:
    model = answering(plan="1. zebra quantum banana?\n2. purple kangaroo opera?")
    async with harness(model) as h:
        result, _ = await run(h, "research", "zebra quantum banana?")
    assert not result.success and "found nothing relevant" in result.output
    assert len(model.calls) == 1  # the plan only: no finding, no report
    assert result.steps[-1].kind == "report" and not result.steps[-1].found


def test_plans_are_parsed_robustly() -> None:
    assert parse_plan("1. What starts first?\n2) Who stops last?\n- Is order checked?", 5) == [
        "What starts first?", "Who stops last?", "Is order checked?"]
    assert parse_plan("Here are some:\n* **What is a hook?**\n• What is an event?\nThanks", 5) == [
        "What is a hook?", "What is an event?"]
    assert parse_plan("What starts first?\nok\nWhat starts first?", 5) == ["What starts first?"]
    assert parse_plan("1. How do plugins start?\n2. ??\n3. x", 5) == ["How do plugins start?"]  # junk dropped
    assert parse_plan("Sure! Here you go", 5) == []
    assert parse_plan("Question: How do jobs start?\nSub-question 2: Who stops them?", 5) == [
        "How do jobs start?", "Who stops them?"]
    assert parse_plan("1. What is one?\n2. What is two?\n3. What is three?", 2) == ["What is one?", "What is two?"]
    assert fallback_plan("What is X and how does Y work?", 3) == [
        "What is X and how does Y work?", "What is X?", "how does Y work?"]
    assert fallback_plan("Tell me about hooks", 3) == ["Tell me about hooks"]
    assert renumber("a [1] b [2] c [9]", [4, 7]) == "a [4] b [7] c "


async def test_messages_about_documents_pick_search_and_research() -> None:
    async with harness(answering()) as h:
        registry = h.kernel.service(AGENT_REGISTRY)
        assert registry.pick_type("According to the docs, how do plugins start?") == "search"
        assert registry.pick_type("Search the documentation for hooks") == "search"
        assert registry.pick_type("Write a report on the plugin lifecycle") == "research"
        assert registry.pick_type("Hi! Who are you?") == "general"
        assert registry.pick_type("Write a python function that adds") == "coding"


# --- the workflow routes -----------------------------------------------------------------------


async def _poll(client: Any, job_id: str, until: set[str]) -> dict[str, Any]:
    with anyio.fail_after(10):
        while True:
            body = (await client.get(f"/workflows/research-analysis/{job_id}/status")).json()
            if body["state"] in until:
                return body
            await anyio.sleep(0.02)


async def test_workflow_routes_start_follow_read_list_log_and_stop() -> None:
    FakeRag.knowledge = FakeKnowledge()
    async with served(model=answering(), extra={"rag": FakeRag, "research": ResearchPlugin,
                                                "jobs": JobsPlugin}) as s:
        async with s.client("operator") as client:
            client.base_url = s.url + "/api/v1"
            started = await client.post("/workflows/research-analysis", json={
                "topic": "How do plugins start?", "max_subquestions": 2, "k": 2})
            assert started.status_code == 202, started.text
            job = started.json()
            assert job["kind"] == "research-analysis" and job["question"] == "How do plugins start?"
            done = await _poll(client, job["id"], {"completed", "failed"})
            assert done["state"] == "completed", done
            result = (await client.get(f"/workflows/research-analysis/{job['id']}/result")).json()
            assert result["found"] and result["success"] and result["report"].startswith("Plugins start")
            assert result["references"][0]["source"] == "docs/writing-plugins.md"
            assert {"number", "heading", "document_id", "chunk", "start", "end"} <= set(result["references"][0])
            assert [q["question"] for q in result["subquestions"]] == [
                "How do plugins start?", "How are events delivered?"][:len(result["subquestions"])]
            log = (await client.get(f"/workflows/{job['id']}/logs")).json()
            assert [e["kind"] for e in log["entries"]] == ["plan", "subquestion", "subquestion", "report"]
            assert log["state"] == "completed" and log["message"].startswith("done")
            listed = (await client.get("/workflows")).json()
            assert [w["id"] for w in listed] == [job["id"]]
            assert (await client.get("/workflows?state=running")).json() == []

            # a run that blocks in retrieval: 202 while it runs, then stopped, then 409
            FakeRag.knowledge.blocking = True
            blocked = (await client.post("/workflows/research-analysis", json={
                "question": "block here", "max_subquestions": 1})).json()
            await _poll(client, blocked["id"], {"running"})
            pending = await client.get(f"/workflows/research-analysis/{blocked['id']}/result")
            assert pending.status_code == 202 and pending.json()["state"] == "running"
            with anyio.fail_after(5):
                while not (await client.get(f"/workflows/{blocked['id']}/logs")).json()["entries"]:
                    await anyio.sleep(0.02)  # the plan step shows while the run goes on
            stopped = await client.post(f"/workflows/stop/{blocked['id']}")
            assert stopped.status_code == 200 and stopped.json()["state"] == "canceled"
            ended = await client.get(f"/workflows/research-analysis/{blocked['id']}/result")
            assert ended.status_code == 409 and "canceled" in ended.json()["detail"]

            for path in ("/workflows/research-analysis/nope/status", "/workflows/research-analysis/nope/result",
                         "/workflows/nope/logs"):
                missing = await client.get(path)
                assert missing.status_code == 404 and "nope" in missing.json()["detail"], path
            assert (await client.post("/workflows/stop/nope")).status_code == 404
            lenient = await client.post("/workflows/research-analysis", json={"question": "a", "k": 2.0})
            assert lenient.status_code == 202, lenient.text  # 2.0 is an integer, as JSON Schema reads
            for body in ({}, {"question": "a", "topic": "b"}, {"question": ""}, {"question": "a", "k": "2"},
                         {"question": "a", "max_subquestions": 99}, {"question": "a", "colour": 1},
                         {"question": "a", "mode": "psychic"}):
                bad = await client.post("/workflows/research-analysis", json=body)
                assert bad.status_code == 400, (body, bad.text)
                assert bad.headers["content-type"].startswith("application/problem+json")
        async with s.client("viewer") as viewer:
            refused = await viewer.post(s.url + "/api/v1/workflows/research-analysis", json={"question": "x"})
            assert refused.status_code == 403
            assert (await viewer.get(s.url + "/api/v1/workflows")).status_code == 200
        paths = s.app.openapi_schema.to_schema()["paths"]
        assert "/api/v1/workflows/research-analysis/{job_id}/result" in paths
        FakeRag.knowledge.release.set()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
def test_workflow_routes_pass_schemathesis(tmp_path: Path, anyio_backend: str) -> None:
    """The workflows' OpenAPI tells the truth (`schemathesis run --checks all` on /workflows)."""
    from anyio.from_thread import start_blocking_portal

    from .test_schema import SCHEMATHESIS, summary

    async def fresh() -> None:
        FakeRag.knowledge = FakeKnowledge()

    extra = {"rag": FakeRag, "research": ResearchPlugin, "jobs": JobsPlugin}
    with start_blocking_portal() as portal:
        portal.call(fresh)
        with portal.wrap_async_context_manager(served(model=answering(), rate=10**9, extra=extra)) as s:
            config = tmp_path / "schemathesis.toml"
            config.write_text('[checks.negative_data_rejection]\nexpected-statuses = '
                              '["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "429"]\n')
            run = subprocess.run(
                [SCHEMATHESIS, "--config-file", str(config), "run", f"{s.url}/schema/openapi.json",
                 "--checks", "all", "--header", f"X-API-Key: {s.keys['admin']}", "--max-examples", "10",
                 "--seed", "1", "--include-path-regex", "/workflows", "--request-timeout", "30", "--no-color"],
                cwd=tmp_path, capture_output=True, text=True, timeout=240,
            )
    report = run.stdout + run.stderr
    assert run.returncode == 0, summary(report)
    assert "Tested: 6" in report, report[-3000:]


# --- integration: the real rag, embeddings (MiniLM) and faiss plugins, the embedded model ----------

DOCS = Path(__file__).parents[1] / "docs"
REAL = {name: None for name in ("models", "llamacpp", "agents", "embeddings", "faiss", "rag", "research")}


async def test_search_and_research_on_the_real_stack_cite_the_right_file() -> None:
    """Search on SmolLM2 (real retrieval, real model); research on a scripted model over the
    same real retrieval (its bounds and references, fast)."""
    files = [str(DOCS / name) for name in ("writing-plugins.md", "jobs.md", "sandbox.md", "events.md")]
    ScriptedProvider.models = [answering(plan="1. How does a job report progress?\n2. How is a job cancelled?",
                                         report="Jobs report progress [1] and are cancelled [2].")]
    config = {"models": {"default": "scripted"}, "rag": {"collection": "docs"}}
    async with PluginHarness({**REAL, "scripted": ScriptedProvider}, config) as h:
        report = await h.kernel.service(KNOWLEDGE).ingest_paths(files)
        assert len(report.added) == 4 and report.chunks > 20, report

        result, streamed = await run(h, "search", "How do I write a plugin?", {"max_tokens": 96},
                                     model="llamacpp:smollm2")
        assert any(s.startswith(str(DOCS / "writing-plugins.md")) for s in result.steps[0].sources)
        head, _, sources = result.output.partition("\n\nSources:\n")
        cited = re.findall(r"^\[\d+\] (\S+)", sources, re.M)
        assert str(DOCS / "writing-plugins.md") in cited, result.output
        assert head.strip() and streamed == result.output
        assert result.success and result.usage.completion_tokens > 0

        nothing, _ = await run(h, "search", "What is the boiling point of mercury in kelvin?")
        assert not nothing.success and "found nothing relevant" in nothing.output, nothing.output

        research, _ = await run(h, "research", "How do jobs report progress and how are they cancelled?",
                                {"max_subquestions": 2, "k": 3})
        assert [s.kind for s in research.steps] == ["plan", "subquestion", "subquestion", "report"]
        references = research.steps[-1].references
        assert references and all(r["source"].startswith(str(DOCS)) for r in references)
        assert any(r["source"].endswith("jobs.md") for r in references), references
        assert [r["number"] for r in references] == sorted(r["number"] for r in references)
        assert "\n\nReferences:\n[1] " in research.output
