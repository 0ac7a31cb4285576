"""The demo city: deterministic, modelled on the lockdown reports behind the spec.

Three districts of a Beijing-like city, each with two distribution centres, one city
reserve, community transit stations, 48 communities (6 sealed, 10 controlled), 6,000
households with realistic shares of priority flags, 32 SKUs and 26 vehicles.
"""

# ruff: noqa: E501  (the SKU table reads best one SKU a line)
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

SEED = 20261120

DISTRICTS = {
    # name: (centre lat, centre lon)
    "chaoyang": (39.921, 116.486),
    "haidian": (39.959, 116.298),
    "fengtai": (39.858, 116.287),
}
DISTRICT_CODE = {"chaoyang": "CY", "haidian": "HD", "fengtai": "FT"}

SKUS: list[dict[str, Any]] = [
    # staples, rationed
    {"id": "RICE-5KG", "name": "Rice 5 kg", "category": "staple", "unit_weight_kg": 5.0, "unit_volume_l": 6.0, "ration": {"quantity": 2, "per_days": 7}},
    {"id": "FLOUR-5KG", "name": "Wheat flour 5 kg", "category": "staple", "unit_weight_kg": 5.0, "unit_volume_l": 6.5, "ration": {"quantity": 2, "per_days": 7}},
    {"id": "NOODLES-1KG", "name": "Dried noodles 1 kg", "category": "staple", "unit_weight_kg": 1.0, "unit_volume_l": 1.5, "ration": {"quantity": 5, "per_days": 7}},
    {"id": "OIL-5L", "name": "Cooking oil 5 l", "category": "staple", "unit_weight_kg": 4.6, "unit_volume_l": 5.2, "ration": {"quantity": 1, "per_days": 7}},
    {"id": "EGGS-30", "name": "Eggs, tray of 30", "category": "staple", "unit_weight_kg": 1.9, "unit_volume_l": 4.0, "ration": {"quantity": 2, "per_days": 7}},
    {"id": "SALT-500G", "name": "Salt 500 g", "category": "staple", "unit_weight_kg": 0.5, "unit_volume_l": 0.4},
    {"id": "SUGAR-1KG", "name": "Sugar 1 kg", "category": "staple", "unit_weight_kg": 1.0, "unit_volume_l": 0.9},
    # vegetables
    {"id": "VEG-BOX", "name": "Mixed vegetable box", "category": "vegetable", "unit_weight_kg": 5.0, "unit_volume_l": 15.0},
    {"id": "CABBAGE-2KG", "name": "Chinese cabbage 2 kg", "category": "vegetable", "unit_weight_kg": 2.0, "unit_volume_l": 5.0},
    {"id": "POTATO-5KG", "name": "Potatoes 5 kg", "category": "vegetable", "unit_weight_kg": 5.0, "unit_volume_l": 7.0},
    {"id": "CARROT-2KG", "name": "Carrots 2 kg", "category": "vegetable", "unit_weight_kg": 2.0, "unit_volume_l": 3.0},
    {"id": "TOMATO-2KG", "name": "Tomatoes 2 kg", "category": "vegetable", "unit_weight_kg": 2.0, "unit_volume_l": 3.5},
    # cold chain
    {"id": "PORK-1KG", "name": "Pork 1 kg", "category": "meat", "unit_weight_kg": 1.0, "unit_volume_l": 1.2, "cold_chain": True, "ration": {"quantity": 3, "per_days": 7}},
    {"id": "CHICKEN-1KG", "name": "Chicken 1 kg", "category": "meat", "unit_weight_kg": 1.0, "unit_volume_l": 1.5, "cold_chain": True},
    {"id": "FISH-1KG", "name": "Frozen fish 1 kg", "category": "meat", "unit_weight_kg": 1.0, "unit_volume_l": 1.3, "cold_chain": True},
    {"id": "MILK-1L", "name": "Milk 1 l", "category": "dairy", "unit_weight_kg": 1.05, "unit_volume_l": 1.1, "cold_chain": True},
    {"id": "YOGURT-6", "name": "Yogurt, 6 cups", "category": "dairy", "unit_weight_kg": 0.9, "unit_volume_l": 1.2, "cold_chain": True},
    # medicine
    {"id": "INSULIN-PEN", "name": "Insulin pen", "category": "medicine", "unit_weight_kg": 0.05, "unit_volume_l": 0.1, "cold_chain": True, "urgent": True},
    {"id": "ANTIHYPERTENSIVE-30", "name": "Antihypertensive, 30 tablets", "category": "medicine", "unit_weight_kg": 0.05, "unit_volume_l": 0.1, "urgent": True},
    {"id": "PARACETAMOL-20", "name": "Paracetamol, 20 tablets", "category": "medicine", "unit_weight_kg": 0.03, "unit_volume_l": 0.05, "ration": {"quantity": 2, "per_days": 7}},
    {"id": "KIDS-FEVER-SYRUP", "name": "Children's fever syrup", "category": "medicine", "unit_weight_kg": 0.15, "unit_volume_l": 0.15},
    {"id": "COLD-MEDICINE", "name": "Cold medicine", "category": "medicine", "unit_weight_kg": 0.05, "unit_volume_l": 0.08},
    {"id": "ORS-10", "name": "Oral rehydration salts, 10 sachets", "category": "medicine", "unit_weight_kg": 0.1, "unit_volume_l": 0.1},
    # infant
    {"id": "FORMULA-800G", "name": "Infant formula 800 g", "category": "infant", "unit_weight_kg": 1.0, "unit_volume_l": 2.0, "ration": {"quantity": 4, "per_days": 7}},
    {"id": "DIAPERS-M", "name": "Diapers, size M", "category": "infant", "unit_weight_kg": 1.5, "unit_volume_l": 8.0},
    {"id": "BABY-FOOD-6", "name": "Baby food, 6 jars", "category": "infant", "unit_weight_kg": 0.8, "unit_volume_l": 1.0},
    # hygiene
    {"id": "SOAP-4", "name": "Soap, 4 bars", "category": "hygiene", "unit_weight_kg": 0.5, "unit_volume_l": 0.6},
    {"id": "TOILET-PAPER-10", "name": "Toilet paper, 10 rolls", "category": "hygiene", "unit_weight_kg": 1.2, "unit_volume_l": 12.0},
    {"id": "MASKS-50", "name": "Masks, box of 50", "category": "hygiene", "unit_weight_kg": 0.3, "unit_volume_l": 1.5, "ration": {"quantity": 2, "per_days": 7}},
    {"id": "DISINFECTANT-1L", "name": "Disinfectant 1 l", "category": "hygiene", "unit_weight_kg": 1.1, "unit_volume_l": 1.2},
    {"id": "SANITARY-PADS", "name": "Sanitary pads", "category": "hygiene", "unit_weight_kg": 0.4, "unit_volume_l": 1.5},
    {"id": "HAND-SANITIZER", "name": "Hand sanitizer 500 ml", "category": "hygiene", "unit_weight_kg": 0.55, "unit_volume_l": 0.6},
]

FLAG_SHARES = {
    "elderly_alone": 0.08,
    "chronic_illness": 0.12,
    "disabled": 0.03,
    "pregnant": 0.015,
    "infant": 0.03,
}

SEALED_WINDOWS = [["07:00", "09:00"], ["15:00", "17:00"]]
CONTROLLED_WINDOWS = [["07:00", "10:00"], ["14:00", "18:00"]]
OPEN_WINDOWS = [["08:00", "12:00"], ["13:00", "19:00"]]


@dataclass
class DemoCity:
    depots: list[dict[str, Any]] = field(default_factory=list)
    communities: list[dict[str, Any]] = field(default_factory=list)
    households: list[dict[str, Any]] = field(default_factory=list)
    skus: list[dict[str, Any]] = field(default_factory=list)
    vehicles: list[dict[str, Any]] = field(default_factory=list)
    stock: list[dict[str, Any]] = field(default_factory=list)


def build_city(households_per_community: int = 125) -> DemoCity:
    rng = random.Random(SEED)
    city = DemoCity(skus=[dict(s) for s in SKUS])
    city.depots.append({
        "id": "CR-1", "name": "City reserve, Daxing", "tier": "city", "lat": 39.728, "lon": 116.341,
        "district": "daxing", "cold_storage": True, "community_ids": [],
    })
    communities_by_district: dict[str, list[str]] = {}
    sealed_left, controlled_left = 6, 10
    for district, (lat, lon) in DISTRICTS.items():
        code = DISTRICT_CODE[district]
        for n in (1, 2):
            city.depots.append({
                "id": f"DC-{code}-{n}", "name": f"{district.title()} distribution centre {n}",
                "tier": "district", "lat": round(lat + rng.uniform(-0.03, 0.03), 5),
                "lon": round(lon + (-0.04 if n == 1 else 0.04), 5), "district": district,
                "cold_storage": n == 1, "community_ids": [],
            })
        ids = []
        for n in range(1, 17):
            community_id = f"C-{code}-{n:02d}"
            if sealed_left and n <= 2:
                risk, windows, sealed_left = "sealed", SEALED_WINDOWS, sealed_left - 1
            elif controlled_left and n <= 5 + (district == "chaoyang"):
                risk, windows, controlled_left = "controlled", CONTROLLED_WINDOWS, controlled_left - 1
            else:
                risk, windows = rng.choice(["prevention", "normal"]), OPEN_WINDOWS
            city.communities.append({
                "id": community_id, "name": f"{district.title()} community {n}", "district": district,
                "lat": round(lat + rng.uniform(-0.05, 0.05), 5),
                "lon": round(lon + rng.uniform(-0.06, 0.06), 5),
                "risk_level": risk, "receiving_windows": windows,
                "gate_service_min": rng.choice([10, 15, 20]),
            })
            ids.append(community_id)
        communities_by_district[district] = ids
        # One small transit station per district, serving its first (sealed) communities.
        city.depots.append({
            "id": f"CS-{code}-1", "name": f"{district.title()} transit station", "tier": "community",
            "lat": city.communities[-16]["lat"], "lon": city.communities[-16]["lon"],
            "district": district, "cold_storage": district == "chaoyang", "community_ids": ids[:2],
        })
    for community in city.communities:
        for n in range(1, households_per_community + 1):
            flags = sorted(flag for flag, share in FLAG_SHARES.items() if rng.random() < share)
            city.households.append({
                "id": f"H-{community['id'][2:]}-{n:04d}", "community_id": community["id"],
                "members": rng.choice([1, 1, 2, 2, 2, 3, 3, 4, 5]), "flags": flags,
            })
    vehicle_no = 0
    for depot in city.depots:
        kinds = {
            "district": ["truck", "van", "van-cl", "reefer"],
            "city": ["truck", "reefer-cl"],
            # A transit station sits beside its communities: a small closed-loop e-van
            # shuttles its stock to their gates.
            "community": ["ev-cl"],
        }[depot["tier"]]
        for kind in kinds:
            vehicle_no += 1
            city.vehicles.append(_vehicle(f"V-{vehicle_no:02d}", depot["id"], kind))
    for depot in city.depots:
        tier_scale = {"city": 20_000, "district": 2_000, "community": 120}[depot["tier"]]
        for sku in city.skus:
            if sku.get("cold_chain") and not depot["cold_storage"]:
                continue
            city.stock.append({
                "depot_id": depot["id"], "sku": sku["id"],
                "quantity": int(tier_scale * rng.uniform(0.6, 1.4)),
            })
    return city


def _vehicle(vehicle_id: str, depot_id: str, kind: str) -> dict[str, Any]:
    specs = {
        "truck": {"capacity_kg": 1500, "capacity_l": 9000, "refrigerated": False, "closed_loop": False},
        "van": {"capacity_kg": 800, "capacity_l": 4500, "refrigerated": False, "closed_loop": False},
        "van-cl": {"capacity_kg": 800, "capacity_l": 4500, "refrigerated": False, "closed_loop": True},
        "reefer": {"capacity_kg": 1000, "capacity_l": 5000, "refrigerated": True, "closed_loop": True},
        "ev-cl": {"capacity_kg": 300, "capacity_l": 1500, "refrigerated": False, "closed_loop": True},
        "reefer-cl": {"capacity_kg": 2000, "capacity_l": 10000, "refrigerated": True, "closed_loop": True},
    }[kind]
    return {"id": vehicle_id, "depot_id": depot_id, **specs, "shift_start": "06:00",
            "shift_end": "20:00", "max_trips": 2, "fixed_cost": 1800}
