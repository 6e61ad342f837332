"""`society talk`: an evolved agent and the ancestor continue the same prompt, both backends."""

import numpy as np
import pytest
from typer.testing import CliRunner

from society.app.cli import app
from society.app.talk import open_conversation, prompt_perplexity, prompts_from
from society.config import Scenario
from society.run.checkpoints import load_agent, load_ancestor
from society.run.runner import run_scenario

runner = CliRunner()
COMMON = {
    "rounds": 2,
    "network.kind": "complete",
    "network.agents": 3,
    "speech.utterances": 12,
    "speech.max_tokens": 12,
    "real_data.max_texts": 300,
    "tokenizer.vocab_size": 300,
    "metrics.heldout_texts": 20,
}
BACKENDS = {
    "ngram": {"language_model.kind": "ngram"},
    "transformer": {
        "language_model.kind": "transformer",
        "language_model.layers": 1,
        "language_model.width": 32,
        "language_model.heads": 2,
        "language_model.context": 32,
        "language_model.ancestor_epochs": 1,
        "language_model.epochs": 1,
        "language_model.threads": 1,
    },
}
PROMPT = "And the LORD said"


@pytest.fixture(scope="module", params=list(BACKENDS))
def run_dir(request, tmp_path_factory):
    """A finished two-round run of three agents (the last round is checkpointed)."""
    root = tmp_path_factory.mktemp(f"talk-{request.param}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOCIETY_CACHE", str(root / "cache"))
        scenario = Scenario().with_overrides({**COMMON, **BACKENDS[request.param]})
        return run_scenario(scenario, root / "run")


def test_agent_and_ancestor_continue_the_prompt(run_dir):
    talk = open_conversation(run_dir, agent_id=2)
    assert talk.round == 2
    agent, ancestor = talk.reply(PROMPT, samples=4, seed=3, max_tokens=8)
    assert agent.speaker == "agent 2, round 2" and ancestor.speaker == "ancestor, round 0"
    assert len(agent.continuations) == len(ancestor.continuations) == 4
    assert agent.continuations != ancestor.continuations  # same random stream, other model
    again, _ = talk.reply(PROMPT, samples=4, seed=3, max_tokens=8)
    assert again.continuations == agent.continuations  # seeded
    # the reply's prompt perplexity is the checkpointed model's own score of the prompt
    expected = prompt_perplexity(load_agent(run_dir, 2), PROMPT)
    assert agent.prompt_perplexity == pytest.approx(expected)
    assert ancestor.prompt_perplexity == pytest.approx(
        prompt_perplexity(load_ancestor(run_dir), PROMPT)
    )
    assert agent.prompt_perplexity != pytest.approx(ancestor.prompt_perplexity)


def test_cli_prints_both_continuations_side_by_side(run_dir):
    args = ["talk", str(run_dir), "--agent", "1", "--prompt", PROMPT, "--samples", "2"]
    result = runner.invoke(app, [*args, "--max-tokens", "6"])
    assert result.exit_code == 0, result.output
    assert "agent 1, round 2" in result.output and "ancestor, round 0" in result.output
    assert result.output.count(PROMPT) == 1 + 2 * 2  # the title, and each continuation


def test_cli_is_interactive_without_a_prompt(run_dir):
    result = runner.invoke(
        app,
        ["talk", str(run_dir), "--agent", "3", "--samples", "1", "--max-tokens", "5"],
        input="In the beginning\n\nquit\nnever read\n",
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("prompt> ") == 3
    assert "'In the beginning'" in result.output
    assert "free speech" in result.output
    assert "never read" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--agent", "99"], "round 2 has no agent 99"),
        (["--agent", "1", "--round", "1"], "no checkpoint for round 1"),
    ],
)
def test_cli_names_missing_checkpoints_in_one_line(run_dir, args, message):
    result = runner.invoke(app, ["talk", str(run_dir), *args, "--prompt", "x"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("error: ")


def test_not_a_run_directory_is_one_line(tmp_path):
    result = runner.invoke(app, ["talk", str(tmp_path), "--agent", "1", "--prompt", "x"])
    assert result.exit_code == 2
    assert "not a run directory" in result.stderr


def test_prompts_stop_at_end_of_input_or_quit():
    lines = iter(["a", " b ", "", "EXIT", "c"])
    assert list(prompts_from(lambda: next(lines))) == ["a", "b", ""]

    def eof() -> str:
        raise EOFError

    assert list(prompts_from(eof)) == []
    assert np.isnan(prompt_perplexity(None, "  "))  # no prompt: nothing to score


def test_two_agents_answer_side_by_side(run_dir):
    talk = open_conversation(run_dir, agent_id=1, versus=3)
    first, second = talk.reply(PROMPT, samples=3, seed=5, max_tokens=8)
    assert first.speaker == "agent 1, round 2" and second.speaker == "agent 3, round 2"
    expected = prompt_perplexity(load_agent(run_dir, 3), PROMPT)
    assert second.prompt_perplexity == pytest.approx(expected)
    alone = open_conversation(run_dir, agent_id=3)
    same, _ = alone.reply(PROMPT, samples=3, seed=5, max_tokens=8)
    assert same.continuations == second.continuations  # agent 3 speaks as agent 3
    out = runner.invoke(
        app, ["talk", str(run_dir), "--agent", "1", "--versus", "3", "--prompt", PROMPT]
    )
    assert out.exit_code == 0, out.output
    assert "agent 1, round 2" in out.output and "agent 3, round 2" in out.output
    assert "ancestor" not in out.output
    bad = runner.invoke(
        app, ["talk", str(run_dir), "--agent", "1", "--versus", "9", "--prompt", "x"]
    )
    assert bad.exit_code == 2 and "Traceback" not in bad.output
