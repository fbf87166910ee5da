"""Past one machine: the heavy model work as Ray Serve deployments (optional).

routes.py says which endpoints run remotely and how their files cross; deployments.py is the
Ray Serve side (replicas with their own ModelStore, batched faces); remote.py the front end's
side (connect, deploy, call through deployment handles). Without $ADVDEMO_RAY_ADDRESS none of
this runs, and Ray need not be installed (requirements-ray.txt adds it).
"""
