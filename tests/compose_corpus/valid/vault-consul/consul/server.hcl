datacenter = "dc1"
server = true
ui_config {
  enabled = true
}
