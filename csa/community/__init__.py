"""The farm's community features (issue 13): messages, share partners, offered shares and
swaps, work days and site duty, the food-sharing partner.

Each lives in its own package (csa/messages, csa/partners, csa/offers, csa/work,
csa/donations). This one only ties their pages together: the members' *Community* section
of My share and the staff's *Community* desk, each a bar of one-tap sections listing the
pages whose blueprint is registered and that the signed-in role may open.
"""
