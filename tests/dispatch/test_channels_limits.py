"""Rate limits of the channel desk on their own: per gateway account, and per caller across gateways."""

from __future__ import annotations

import pytest

from dispatch.channels.desk import ChannelDesk, ChannelRefusal, DeskLimits
from patroli.storage.channels_repo import Gateway


def test_per_gateway_and_per_caller_limits_count_separately() -> None:
    desk = ChannelDesk(None, None, DeskLimits(per_gateway="3/minute", per_caller="2/minute"))  # type: ignore[arg-type]
    sms, social = Gateway("sms-a", "sms", "31.71"), Gateway("social-a", "social", "31.71")
    desk._rate(sms, "+6281200000001")
    desk._rate(sms, "+6281200000001")
    with pytest.raises(ChannelRefusal) as caller:
        desk._rate(social, "+6281200000001")  # the caller's third contact, through another gateway
    assert (caller.value.reason, caller.value.status) == ("rate_limited_caller", 429)
    desk._rate(sms, "+6281200000002")  # the gateway's third
    with pytest.raises(ChannelRefusal) as gateway:
        desk._rate(sms, "+6281200000003")  # its fourth: refused, whoever the caller
    assert gateway.value.reason == "rate_limited_gateway"
    desk._rate(social, "+6281200000003")  # another gateway, another caller: still open
