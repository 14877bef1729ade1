"""Administration: install, status, uninstall, joining data planes. Front ends call these; they talk to the
clusters through kbmc.kube."""
