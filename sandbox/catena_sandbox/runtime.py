"""The running sandbox: its settings, state, delivery engine and services, shared by every route."""

from __future__ import annotations

from typing import cast

from fastapi import Request

from catena_sandbox.auth import TokenIssuer
from catena_sandbox.delivery import DeliveryEngine
from catena_sandbox.faults import FaultState
from catena_sandbox.scenarios import Simulator
from catena_sandbox.settings import Settings
from catena_sandbox.state import Store
from catena_sandbox.subscriptions import Subscriptions
from catena_sandbox.variations import Variations


class Sandbox:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store()
        self.faults = FaultState(settings.faults, seed=settings.fault_seed)
        self.variations = Variations(settings.variations)
        self.tokens = TokenIssuer(settings)
        self.engine = DeliveryEngine(settings=settings, store=self.store, faults=self.faults)
        self.subscriptions = Subscriptions(
            settings=settings, store=self.store, engine=self.engine, variations=self.variations
        )
        self.engine.on_breaker = self.subscriptions.trip_breaker
        self.simulator = Simulator(
            settings=settings,
            store=self.store,
            engine=self.engine,
            subscriptions=self.subscriptions,
            variations=self.variations,
        )

    def start(self) -> None:
        self.engine.start()

    def stop(self) -> None:
        self.engine.stop()

    def reset(self) -> None:
        self.store.clear()
        self.faults.restore()
        self.variations.restore()


def get_sandbox(request: Request) -> Sandbox:
    return cast(Sandbox, request.app.state.sandbox)
