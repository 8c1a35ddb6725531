// tracker page script
