module cim.local/pause

go 1.26
