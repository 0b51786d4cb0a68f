module stash

go 1.19
