"""The leaderboard speaks plainly (issue 12 §8), on SQLite and PostgreSQL: one sentence says what
a rank is; a board whose models cannot be told apart yet says so instead of showing every model
at rank 1; a board with clear winners shows their ranks; and nothing cites "the seed article".
Also the words of the reveal after a vote (app.web.views.ballot_choice)."""

import re
from types import SimpleNamespace

from tests.support.factories import make_voter, ready_comparison, vote
from tests.support.team import make_team

PAIR = ("demo/aurora", "demo/blocks")


def _ranks(html: str) -> list[str]:
    return re.findall(r'<td class="rank">(.*?)</td>', html)


async def _votes(app, board, n: int, winner=lambda i: "demo/aurora"):
    for i in range(n):
        c = await ready_comparison(app, board, PAIR, f"shot {i}", False)
        by_model = {t.model_id: t.id for t in c.takes}
        voter = await make_voter(app, f"R{i}")
        a, b = by_model["demo/aurora"], by_model["demo/blocks"]
        await vote(app, c, voter.id, take_a=a, take_b=b, outcome="a" if winner(i) == "demo/aurora" else "b")


async def test_too_few_votes_to_tell_apart_instead_of_a_row_of_rank_ones(app):
    team = await make_team(app)
    await _votes(app, team.board, 3, winner=lambda i: PAIR[i % 2])
    async with team.client("owner") as owner:
        for path in (f"/b/{team.board.slug}/leaderboard", "/leaderboard"):
            page = (await owner.get(path)).text
            assert 'id="too-few-votes"' in page and "Too few votes to tell apart" in page, path
            assert _ranks(page) == ['<span title="too few votes to tell apart">—</span>'] * 2, path
            assert "whose intervals overlap share a rank" in page
            assert "seed article" not in page.lower()


async def test_clear_winners_keep_their_ranks(app):
    team = await make_team(app)
    await _votes(app, team.board, 30)
    async with team.client("owner") as owner:
        page = (await owner.get(f"/b/{team.board.slug}/leaderboard")).text
        assert "too-few-votes" not in page
        assert _ranks(page) == ["1", "2"]


def _tile(tid, label, name):
    return SimpleNamespace(take=SimpleNamespace(id=tid), label=label, name=name)


def _vote(kind, a, b, winner):
    return SimpleNamespace(kind=kind, take_a_id=a, take_b_id=b, winner=winner)


def test_the_reveal_names_the_pick_for_every_kind_of_ballot():
    from app.web.views import ballot_choice

    tiles = [_tile("t1", "A", "Aurora"), _tile("t2", "B", "Blocks"), _tile("t3", "C", "Ember")]
    assert ballot_choice([_vote("pair", "t1", "t2", "model_b")], tiles) == ("You chose B (Blocks) over A (Aurora).", ["t2"])
    assert ballot_choice([_vote("pair", "t1", "t2", "model_a")], tiles) == ("You chose A (Aurora) over B (Blocks).", ["t1"])
    assert ballot_choice([_vote("pair", "t1", "t2", "tie")], tiles)[0] == "You called A (Aurora) and B (Blocks) a tie."
    assert ballot_choice([_vote("pair", "t1", "t2", "tie (bothbad)")], tiles)[0] == \
        "You said A (Aurora) and B (Blocks) are both bad."
    # best of three, stored with the pick on either side (screen order decides a and b)
    best = [_vote("best", "t1", "t3", "model_b"), _vote("best", "t2", "t3", "model_b")]
    assert ballot_choice(best, tiles) == ("You picked C (Ember) as the best of 3.", ["t3"])
    ranking = [_vote("ranking", "t1", "t2", "model_b"), _vote("ranking", "t1", "t3", "model_b"),
               _vote("ranking", "t2", "t3", "model_a")]
    assert ballot_choice(ranking, tiles) == ("Your ranking: B (Blocks) > C (Ember) > A (Aurora).", ["t2"])
    # a blind reviewer's own tiles before the names: letters only
    assert ballot_choice([_vote("pair", "t1", "t2", "model_a")], [_tile("t1", "A", None), _tile("t2", "B", None)])[0] == \
        "You chose A over B."
