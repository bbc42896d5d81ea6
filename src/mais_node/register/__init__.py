"""The organisations register and their systems (MAIS API catalogue; DESIGN §2, §3)."""

from mais_node.register.clients import Clients
from mais_node.register.model import ODS_SYSTEM, Client, IgReference, Organisation
from mais_node.register.organisations import Organisations, ods_code
from mais_node.register.ports import ClientStore

__all__ = ["ODS_SYSTEM", "Client", "ClientStore", "Clients", "IgReference", "Organisation", "Organisations", "ods_code"]
