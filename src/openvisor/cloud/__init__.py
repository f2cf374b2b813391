"""openvisor.cloud: the FastAPI service behind the Microvisor-compatible REST API.

``create_app(Settings(...))`` builds the service; ``openvisor.cloud.service``
holds the functions other packages call with a SQLAlchemy session;
``openvisor.cloud.client`` is a typed REST client.
"""

from openvisor.cloud.app import create_app
from openvisor.cloud.settings import Settings

__all__ = ["Settings", "create_app"]
