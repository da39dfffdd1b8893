"""botocore access: one Session per profile, clients made once per (service, region) and shared.

botocore clients are thread-safe but Sessions are not, so sessions and clients are created under a
lock and then shared by the thread workers. botocore itself honours ``AWS_ENDPOINT_URL`` (and the
per-service ``AWS_ENDPOINT_URL_EC2`` …), which is how a user or a test points the app at an
emulator; nothing here overrides it. botocore is imported lazily so the first frame paints first.

boto3 is not used: its Session is a thin layer over botocore's, and importing it (its S3 transfer
manager, its resource models) cost 0.1 to 0.4 s of every start and `ls`. `Session` below is the
part of a boto3 Session the app (and the hooks of the simulated cloud and the tests) use.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from tui.services.errors import CredentialsError, D2lError, from_client_error
from tui.start_gc import freeze_once

log = logging.getLogger(__name__)

DEFAULT_REGION = "us-east-1"

# Services whose answers are optional (each has a fallback: bundled prices, "unknown" quotas):
# a failing endpoint must not hold a screen for six backed-off attempts.
# The identity check at start: no answer is a network problem to show now, not after a minute of
# backed-off retries.
_ATTEMPTS = {"pricing": 2, "service-quotas": 3, "cloudwatch": 3, "sts": 2}
# Seconds to wait for an answer once connected. GetCallerIdentity answers in well under a second:
# the start-up check gives up after about 2 × 10 s, not 3 × 30 s, when nothing answers.
_READ_TIMEOUT_S = {"sts": 10}


class Aws:
    """The AWS account the app talks to: a profile, a home region, and shared clients."""

    def __init__(
        self,
        profile: str | None = None,
        region: str | None = None,
        *,
        simulated: bool = False,
        customize: Callable[[Any], None] | None = None,
    ):
        """``customize(session)`` runs on every new boto3 Session: the simulated cloud and the tests
        register botocore event hooks there to answer what the emulator can't (quotas, prices)."""
        self.profile = profile or os.environ.get("AWS_PROFILE") or None
        self._region = region
        self.simulated = simulated
        self._customize = customize
        self._lock = threading.Lock()
        self._boto_session: Session | None = None  # made on first use
        self._clients: dict[tuple[str, str], Any] = {}

    @property
    def endpoint_url(self) -> str:
        return os.environ.get("AWS_ENDPOINT_URL", "")

    @property
    def home_region(self) -> str:
        """--region, else the profile's / environment's region, else us-east-1."""
        if self._region:
            return self._region
        try:
            region = self._session().region_name
        except D2lError:
            region = None
        return region or DEFAULT_REGION

    def _session(self, region: str | None = None) -> Session:
        """The one Session of this profile. One Session serves every region: each new Session
        re-parses the service models (seconds for EC2), while clients made from one share them."""
        with self._lock:
            if self._boto_session is None:
                session = Session(self.profile)
                if self._customize is not None:
                    self._customize(session)
                self._boto_session = session
            return self._boto_session

    def client(self, service: str, region: str | None = None) -> Any:
        from botocore.config import Config

        region = region or self.home_region
        key = (service, region)
        with self._lock:
            cached = self._clients.get(key)
        if cached is not None:
            return cached
        session = self._session()
        attempts = _ATTEMPTS.get(service, 6)  # RequestLimitExceeded: backoff, then give up
        config = Config(
            retries={"mode": "adaptive", "max_attempts": attempts},
            connect_timeout=5,
            read_timeout=_READ_TIMEOUT_S.get(service, 30),
            user_agent_extra="d2l-tui",
        )
        with self._lock:
            if key not in self._clients:
                self._clients[key] = session.client(service, region_name=region, config=config)
            client = self._clients[key]
        if service == "ec2":  # botocore, its endpoints and EC2's model (~28 MiB of dicts), for good
            freeze_once("ec2-model")
        return client

    def identity(self) -> str:
        """The caller's ARN; raises CredentialsError with what to do when there is none."""
        return check_credentials(lambda: self.client("sts").get_caller_identity(), self.profile)


class Session:
    """What the app uses of a boto3 Session, on botocore alone: ``events`` (hooks), ``region_name``
    and ``client``. A missing --profile is a CredentialsError here, as boto3's Session raised it."""

    def __init__(self, profile: str | None = None) -> None:
        import botocore.exceptions
        import botocore.session

        _share_client_classes()
        self._core = botocore.session.Session(profile=profile)
        try:
            self._core.get_scoped_config()  # reads the profile now: a wrong name fails here
        except botocore.exceptions.ProfileNotFound as exc:
            raise CredentialsError(
                f"The AWS profile {profile!r} does not exist.",
                "Check `aws configure list-profiles`, or run without --profile.",
            ) from exc
        self.events = self._core.get_component("event_emitter")

    @property
    def region_name(self) -> str | None:
        region = self._core.get_config_variable("region")
        return str(region) if region else None

    def client(self, service: str, region_name: str | None = None, config: Any = None) -> Any:
        return self._core.create_client(service, region_name=region_name, config=config)


_SHARED = False
_SHARED_LOCK = threading.Lock()


def _share_client_classes() -> None:
    """One service model and one client class per Session and service, instead of one per client.

    The instances screen and `ls` make one EC2 client per region (~20 on AWS, 38 on moto), and
    botocore made each from scratch: a new service model (whose endpoint-discovery check walks all
    ~750 EC2 operations) and a new class with a method per operation. That was most of a client's
    cost (~17 ms, ~1 MiB). Both are read-only descriptions of the API: each client still has its own
    region, config, endpoint, credentials and copy of the hooks. They are kept per Session (its
    loader, its event emitter), because a Session's `creating-client-class` hook may shape the class.
    """
    global _SHARED
    import weakref

    from botocore.client import ClientCreator

    with _SHARED_LOCK:
        if _SHARED:
            return
        _SHARED = True
        load_model = ClientCreator._load_service_model
        make_class = ClientCreator._create_client_class
        models: weakref.WeakKeyDictionary[Any, dict[tuple[str, str | None], Any]] = (
            weakref.WeakKeyDictionary()
        )
        classes: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], type]] = weakref.WeakKeyDictionary()

        def service_model(creator: ClientCreator, service_name: str, api_version: str | None = None) -> Any:
            key = (service_name, api_version)
            with _SHARED_LOCK:
                made = models.setdefault(creator._loader, {})
                if key not in made:
                    made[key] = load_model(creator, service_name, api_version)
                return made[key]

        def client_class(creator: ClientCreator, service_name: str, service_model: Any) -> type:
            key = (service_name, service_model.api_version)
            with _SHARED_LOCK:
                made = classes.setdefault(creator._event_emitter, {})
                if key not in made:
                    made[key] = make_class(creator, service_name, service_model)
                return made[key]

        ClientCreator._load_service_model = service_model  # type: ignore[method-assign]
        ClientCreator._create_client_class = client_class  # type: ignore[method-assign]


def check_credentials(call: Any, profile: str | None = None) -> str:
    """Run an identity call and classify every way credentials can be missing or stale."""
    import botocore.exceptions as bex

    login = f"aws sso login --profile {profile}" if profile else "aws sso login --profile <name>"
    try:
        response = call()
    except bex.NoCredentialsError as exc:
        raise CredentialsError(
            "No AWS credentials were found.",
            "Run `aws configure` (access key) or `aws configure sso`, or try the simulated cloud with --demo.",
        ) from exc
    except (bex.SSOTokenLoadError, bex.UnauthorizedSSOTokenError, bex.TokenRetrievalError) as exc:
        raise CredentialsError(
            "Your AWS SSO session has expired or was never started.",
            f"Run `{login}`, then start d2l-tui again.",
        ) from exc
    except bex.PartialCredentialsError as exc:
        raise CredentialsError(
            "Your AWS credentials are incomplete (a key without its secret?).",
            "Run `aws configure` to set both the access key id and the secret.",
        ) from exc
    except bex.ProfileNotFound as exc:
        raise CredentialsError(
            f"The AWS profile {profile!r} does not exist.",
            "Check `aws configure list-profiles`, or run without --profile.",
        ) from exc
    except bex.ClientError as exc:
        err = from_client_error(exc, "GetCallerIdentity")
        if isinstance(err, CredentialsError):
            raise err from exc
        if err.code in ("AccessDenied", "AccessDeniedException"):
            raise CredentialsError(
                "AWS denied access with these credentials.",
                "Check the IAM user's policies, or pick another --profile.",
                code=err.code,
            ) from exc
        raise err from exc
    except (bex.EndpointConnectionError, bex.ConnectTimeoutError) as exc:
        raise D2lError(
            f"Could not reach AWS ({exc.kwargs.get('endpoint_url', 'endpoint')}).",
            "Check your network (or AWS_ENDPOINT_URL), then try again.",
        ) from exc
    except (bex.ReadTimeoutError, bex.ConnectionClosedError) as exc:  # connected, but no answer
        raise D2lError(
            f"AWS did not answer in time ({exc.kwargs.get('endpoint_url', 'endpoint')}).",
            "Check your network (a proxy or VPN?) or AWS_ENDPOINT_URL, then try again.",
        ) from exc
    return str(response.get("Arn", ""))


def as_d2l_error(exc: BaseException, profile: str | None, fallback: D2lError | None = None) -> D2lError:
    """Any exception as a D2lError: ours as they are; botocore's credential and connection errors
    through the same classification the start-up check uses; anything else as ``fallback``."""
    if isinstance(exc, D2lError):
        return exc

    def reraise() -> Any:
        raise exc

    try:
        check_credentials(reraise, profile)
    except D2lError as err:
        return err
    except Exception:
        pass
    from tui.services.errors import local_file_error

    return (
        local_file_error(exc)
        or fallback
        or D2lError(f"Something unexpected went wrong ({type(exc).__name__}).", "")
    )
