<?php
$settings["trusted_host_patterns"] = ["^localhost$"];
