"""One parsed copy of botocore's data files per emulator process.

botocore gives every Session its own data loader, and a loader's cache is its
own: each new Session parses endpoints.json (1.2 MB) and every service model it
touches again. moto makes new Sessions freely; importing moto.ec2 alone (which
moto.ssm and moto.elbv2 import) asks three fresh Sessions for the EC2 regions,
so the 5 MB EC2 model and endpoints.json were each parsed three times, about
half of the emulator's start-up. cbor_protocol's own Session parsed the
CloudWatch model once more on the first CBOR call.

share_one_loader() makes every Session created afterwards use one loader per
data path, so each file is parsed once. The files do not change while the
emulator runs, and botocore already hands the same cached objects to every
caller within one Session, so sharing them across Sessions changes no answer.
Call it before importing moto.
"""

from __future__ import annotations

import functools

import botocore.loaders
import botocore.session


def share_one_loader() -> None:
    """Every botocore Session created from now on shares one loader per data
    path (the argument botocore builds a loader from). Idempotent."""
    if getattr(botocore.session.create_loader, "shared_by_emulator", False):
        return
    shared = functools.lru_cache(maxsize=None)(botocore.loaders.create_loader)
    shared.shared_by_emulator = True  # type: ignore[attr-defined]
    # botocore.session looks create_loader up in its own module's globals when
    # a Session first needs its loader.
    botocore.session.create_loader = shared
