<?php
echo "Hello from Laravel";
