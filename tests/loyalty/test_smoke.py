from loyalty import services
from tests.loyalty.conftest import account, at, earn, make_reward


def test_earn_and_redeem(member):
    earn(member, 100, at(2026, 1, 10))
    reward = make_reward(cost=60)
    result = services.reward_redeem(member=member, reward=reward, now=at(2026, 1, 11))
    assert result.redemption.cost == 60
    assert account(member).balance == 40
